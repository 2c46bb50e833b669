using FluxStudio.Engine.Weights;
using static TorchSharp.torch;

namespace FluxStudio.Bench;

/// <summary>
/// Loading a large synthetic safetensors file from the page cache into tensors, against a plain read of the same
/// bytes into one reused buffer: the ratio says how much the loader adds to the cost of the bytes themselves.
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
                tensors[$"blocks.{i}.weight"] = full([tensorBytes / 2 / 4096, 4096], i, ScalarType.BFloat16);
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

            // Into tensors that already exist, as a model's parameters do when its weights are loaded.
            var targets = new Dictionary<string, Tensor>();
            using (var file = SafetensorsFile.Open(path))
                foreach (var name in file.Names)
                    targets[name] = empty(file.Info(name).Shape, file.Info(name).DType);
            void LoadIntoModel()
            {
                using var file = SafetensorsFile.Open(path);
                foreach (var (name, target) in targets)
                    file.LoadInto(name, target);
            }

            int runs = options.Quick ? 3 : 5;
            var read = Timing.Median(PlainRead, runs, warmups: 2);
            var fresh = Timing.Median(FreshRead, runs, warmups: 1);
            var load = Timing.Median(Load, runs, warmups: 1);
            var intoModel = Timing.Median(LoadIntoModel, runs, warmups: 1);
            foreach (var target in targets.Values) target.Dispose();
            double readRate = fileBytes / read.TotalSeconds / 1e9, loadRate = fileBytes / load.TotalSeconds / 1e9;
            double freshRate = fileBytes / fresh.TotalSeconds / 1e9;
            yield return new BenchResult($"plain read {fileBytes >> 20} MiB", readRate, "GB/s", "page cache, one reused 8 MiB buffer");
            yield return new BenchResult($"plain read into new 64 MiB arrays", freshRate, "GB/s", "page cache, fresh memory");
            yield return new BenchResult($"safetensors load {fileBytes >> 20} MiB", loadRate, "GB/s", "into tensors");
            yield return new BenchResult("safetensors load / plain read", loadRate / readRate, "ratio", "goal ≥ 0.8");
            yield return new BenchResult("safetensors load / read into fresh memory", loadRate / freshRate, "ratio");
            double intoRate = fileBytes / intoModel.TotalSeconds / 1e9;
            yield return new BenchResult($"safetensors load into existing tensors", intoRate, "GB/s", "as into a model's parameters");
            yield return new BenchResult("load into existing tensors / plain read", intoRate / readRate, "ratio", "goal ≥ 0.8");
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }
}
