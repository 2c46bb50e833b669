using FluxStudio.Engine.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// Loading a large synthetic safetensors file from the page cache into tensors, against a plain read of the same
/// bytes into one reused buffer: the ratio says how much the loader adds to the cost of the bytes themselves. A model's
/// parameters are given the file's pages (<see cref="WeightMapping"/>); reading into their own memory is measured too.
/// </summary>
public static class LoadBench
{
    public static IEnumerable<BenchResult> Run(BenchOptions options)
    {
        long totalBytes = options.Quick ? 256L << 20 : 2L << 30;
        const long tensorBytes = 64L << 20;
        var directory = Directory.CreateTempSubdirectory("fluxstudio-bench-");
        try
        {
            var path = Path.Combine(directory.FullName, "synthetic.safetensors");
            var tensors = new Dictionary<string, Tensor>();
            for (int i = 0; i < totalBytes / tensorBytes; i++)
            {
                using var value = i.ToScalar();
                tensors[$"blocks.{i}.weight"] = full([tensorBytes / 2 / 4096, 4096], value, ScalarType.BFloat16);
            }
            SafetensorsWriter.Write(path, tensors);
            foreach (var tensor in tensors.Values) tensor.Dispose();
            long fileBytes = new FileInfo(path).Length;

            var buffer = new byte[8 << 20];
            void PlainRead()
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                while (stream.Read(buffer, 0, buffer.Length) > 0) { }
            }
            // The same bytes read into a new array per tensor: what any loader pays to fault in fresh memory.
            void FreshRead()
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
                var chunk = GC.AllocateUninitializedArray<byte>((int)tensorBytes);
                while (stream.Read(chunk, 0, chunk.Length) > 0)
                    chunk = GC.AllocateUninitializedArray<byte>((int)tensorBytes);
            }
            void Load()
            {
                using var file = SafetensorsFile.Open(path);
                foreach (var name in file.Names)
                    using (file.Load(name)) { }
            }

            // Into tensors that already exist, as a model's parameters do when its weights are loaded: made with empty()
            // by the model's constructor, and freed with the model.
            void LoadIntoModel()
            {
                using var file = SafetensorsFile.Open(path);
                foreach (var name in file.Names)
                {
                    using var target = empty(file.Info(name).Shape, file.Info(name).DType);
                    file.LoadInto(name, target);
                }
            }

            // The same with the bytes read into the tensors' own memory, as before weights were mapped.
            void LoadIntoModelReading()
            {
                using var reading = WeightMapping.Disable();
                LoadIntoModel();
            }

            int rounds = options.Quick ? 3 : 5;
            var times = Timing.Interleaved([PlainRead, FreshRead, Load, LoadIntoModel, LoadIntoModelReading], rounds);
            double Rate(int action) => fileBytes / Timing.Median(times[action]) / 1e6;
            double Ratio(int action, int baseline) => Timing.MedianRatio(rounds, r => times[baseline][r] / times[action][r]);
            yield return new BenchResult($"plain read {fileBytes >> 20} MiB", Rate(0), "GB/s", "page cache, one reused 8 MiB buffer");
            yield return new BenchResult($"plain read into new 64 MiB arrays", Rate(1), "GB/s", "page cache, fresh memory");
            yield return new BenchResult($"safetensors load {fileBytes >> 20} MiB", Rate(2), "GB/s", "into new tensors (read)");
            yield return new BenchResult("safetensors load / plain read", Ratio(2, 0), "ratio");
            yield return new BenchResult("safetensors load / read into fresh memory", Ratio(2, 1), "ratio");
            yield return new BenchResult($"safetensors load into existing tensors", Rate(3), "GB/s", "as into a model's parameters (the file's pages mapped)");
            yield return new BenchResult("load into existing tensors / plain read", Ratio(3, 0), "ratio", $"goal ≥ 0.8; median of {rounds} interleaved rounds");
            yield return new BenchResult("the same read into the tensors' memory / plain read", Ratio(4, 0), "ratio", "the file's pages not mapped, as before");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
