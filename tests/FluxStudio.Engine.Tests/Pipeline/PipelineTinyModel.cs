using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Models;
using FluxStudio.Engine.Pipeline;

namespace FluxStudio.Engine.Tests.Pipeline;

/// <summary>The tests/Fixtures/pipeline-tiny model, loaded once per test class (fp32, CPU).</summary>
public sealed class PipelineTinyModel : IDisposable
{
    public LoadedFluxModel Model { get; } = LoadedFluxModel.Load(
        ModelLocator.FromDiffusersFolder(Fixtures.Path("pipeline-tiny", "model")), ComputeTarget.Cpu, lowMemory: false);

    public void Dispose() => Model.Dispose();
}
