namespace FluxStudio.App.Loras;

/// <summary>One entry of <c>lora_info.json</c>, plus whether its file is present in the LoRA folder.</summary>
public sealed record LoraEntry(string FileName, string Description, string ActivationKeyword, string FullPath, bool FileMissing);
