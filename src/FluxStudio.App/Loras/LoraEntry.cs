namespace FluxStudio.App.Loras;

/// <summary>
/// A LoRA: an entry of <c>lora_info.json</c>, or a <c>.safetensors</c> file in the LoRA folder that the file does not
/// list (<see cref="InCatalog"/> false, no description or keyword), plus whether its file is present.
/// </summary>
public sealed record LoraEntry(string FileName, string Description, string ActivationKeyword, string FullPath, bool FileMissing,
    bool InCatalog = true);
