using FluxStudio.Engine.Devices;
using FluxStudio.Engine.Memory;

namespace FluxStudio.Engine.Tests.Memory;

/// <summary>A machine with exactly this much memory free (null: one that cannot tell), whatever this one has.</summary>
public sealed class FixedMemory(long? bytes) : IDeviceMemory
{
    public static MemoryPlanner Planner(long? bytes) => new(new FixedMemory(bytes));

    public long? AvailableBytes(ComputeTarget target) => bytes;
}
