using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;
using FluxStudio.Engine.TinyModel;

namespace FluxStudio.Engine.Tests.Pipeline;

/// <summary>Which parts of a model are in memory at each stage, with and without low-memory mode.</summary>
public sealed class LowMemoryTests
{
    private static readonly ModelPart[] Everything = [ModelPart.Transformer, ModelPart.T5, ModelPart.Clip, ModelPart.Vae];

    /// <summary>The parts in memory at the last progress report of each stage.</summary>
    private static Dictionary<GenerationStage, IReadOnlySet<ModelPart>> PartsByStage(LoadedFluxModel model)
    {
        var seen = new Dictionary<GenerationStage, IReadOnlySet<ModelPart>>();
        new FluxPipeline(model).Generate(new FluxGenerationOptions { Prompt = "a fox", Seed = 1, Width = 16, Height = 16, Steps = 2 },
            new SynchronousProgress<GenerationProgress>(p => seen[p.Stage] = model.ResidentParts));
        return seen;
    }

    [Fact]
    public void InLowMemoryModeOnlyTheTransformerStaysAndTheVaeIsLoadedOnlyToDecode()
    {
        using var folder = new TempFolder();
        TinyModelWriter.Write(folder.Path, dev: false, seed: 2);
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(folder.Path), ComputeTarget.Cpu, lowMemory: true);
        Assert.Empty(model.ResidentParts);
        Assert.Equal(4, new FluxPipeline(model).SizeMultiple);

        var parts = PartsByStage(model);
        Assert.Equal([ModelPart.Transformer], parts[GenerationStage.Denoising]);
        Assert.Equal([ModelPart.Transformer], parts[GenerationStage.Decoding]);
        Assert.Equal([ModelPart.Transformer], model.ResidentParts);
    }

    [Fact]
    public void OtherwiseEveryPartIsLoadedOnceAndStays()
    {
        using var folder = new TempFolder();
        TinyModelWriter.Write(folder.Path, dev: false, seed: 2);
        using var model = LoadedFluxModel.Load(ModelLocator.FromDiffusersFolder(folder.Path), ComputeTarget.Cpu, lowMemory: false);
        Assert.Equal(Everything.ToHashSet(), model.ResidentParts);
        Assert.All(PartsByStage(model).Values, parts => Assert.Equal(Everything.ToHashSet(), parts));
        Assert.Equal(Everything.ToHashSet(), model.ResidentParts);
    }
}
