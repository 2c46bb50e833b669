using FluxStudio.Engine.Devices;

// The benchmark suite lands with the benchmarks issue; until then this prints what it would run on.
Console.WriteLine(TorchRuntime.Describe());
