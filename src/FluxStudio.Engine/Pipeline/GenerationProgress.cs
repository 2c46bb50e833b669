namespace FluxStudio.Engine.Pipeline;

/// <summary>What a generation is doing: a stage, and for denoising the step i of n with an optional preview.</summary>
public sealed record GenerationProgress(GenerationStage Stage, int Step, int Steps, RgbImage? Preview = null);

public enum GenerationStage
{
    LoadingModel,
    EncodingPrompt,
    Denoising,
    Decoding,
    Done,
}
