using System.Text;
using FluxStudio.Engine.Quantization;
using FluxStudio.Engine.Text.Clip;
using FluxStudio.Engine.TinyModel;
using FluxStudio.Engine.Vae;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static FluxStudio.Engine.Layers.Scalars;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Weights;

/// <summary>Weights whose memory is the file's own pages (<see cref="WeightMapping"/>) against weights read into memory.</summary>
public sealed class WeightMappingTests : IDisposable
{
    private static readonly Scalar ByteCount = 4096, ByteModulus = 251;
    private static readonly Scalar FrontLength = 8, WeightLength = 1000, BlobLength = 1 << 16;
    private static readonly Scalar FirstLength = 4096, SecondLength = 1 << 20;

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    public static TheoryData<string, int?> Parts() => new()
    {
        { "transformer", null }, { "transformer", 4 }, { "transformer", 8 },
        { "text_encoder_2", null }, { "text_encoder_2", 8 },
        { "text_encoder", null }, { "vae", null },
    };

    [Theory]
    [MemberData(nameof(Parts))]
    public void AModelPartLoadedFromMappedPagesHoldsExactlyWhatReadingItGives(string part, int? storedBits)
    {
        if (!OperatingSystem.IsLinux()) return;
        var model = _folder.File("schnell");
        TinyModelWriter.Write(model, dev: false, seed: 3);
        if (storedBits is { } bits)
        {
            var quantized = _folder.File($"schnell-q{bits}");
            QuantizedModelWriter.Save(model, quantized, bits, groupSize: 16);
            model = quantized;
        }
        var path = Path.Combine(model, part);
        const ScalarType dtype = ScalarType.BFloat16; // as stored: loading in another dtype converts, and maps nothing
        nn.Module Load() => part switch
        {
            "transformer" => QuantizedModels.LoadTransformer(path, dtype),
            "text_encoder_2" => QuantizedModels.LoadT5(path, dtype),
            "text_encoder" => ClipTextModel.Load(path, dtype),
            _ => AutoEncoder.Load(path, dtype),
        };

        using var mapped = Load();
        Assert.True(MappedFiles().Any(file => file.StartsWith(path, StringComparison.Ordinal)), "the weights use the file's pages");
        nn.Module read;
        using (WeightMapping.Disable())
            read = Load();
        using (read)
        {
            var expected = Tensors(read);
            var actual = Tensors(mapped);
            Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
            foreach (var (name, value) in expected)
            {
                Assert.Equal(value.dtype, actual[name].dtype);
                Assert.Equal(value.shape, actual[name].shape);
                Assert.True(value.bytes.SequenceEqual(actual[name].bytes), $"{part}: {name} differs");
            }
        }
    }

    [Fact]
    public void FreeingAMappedModelReleasesTheFilesPages()
    {
        if (!OperatingSystem.IsLinux()) return;
        var model = _folder.File("schnell");
        TinyModelWriter.Write(model, dev: false, seed: 4);
        var path = Path.Combine(model, "vae");
        using (var vae = AutoEncoder.Load(path, ScalarType.BFloat16))
            Assert.Contains(MappedFiles(), file => file.StartsWith(path, StringComparison.Ordinal));
        Assert.DoesNotContain(MappedFiles(), file => file.StartsWith(path, StringComparison.Ordinal));
    }

    /// <summary>
    /// A mapped weight's memory is the file's pages, resident once loaded and counted as the process's (honest
    /// accounting); read, it is memory of its own and leaves no file pages resident.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AWeightIsTheFilesResidentPagesWhenMappedAndItsOwnMemoryWhenRead(bool mapped)
    {
        if (!OperatingSystem.IsLinux()) return;
        var path = _folder.File("large.safetensors");
        const long rows = 16 << 10, columns = 4 << 10, bytes = rows * columns * 2; // 128 MiB of bf16
        using (var values = ones([rows, columns], ScalarType.BFloat16))
            SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["w"] = values });

        using var target = zeros([rows, columns], ScalarType.BFloat16);
        using (var file = SafetensorsFile.Open(path))
        using (mapped ? null : WeightMapping.Disable())
        {
            file.LoadInto("w", target);
            file.CompleteLoading();
        }

        // Resident before anything reads the weight: loading, not the first use, faulted its pages in.
        var mappings = Mappings(path);
        long address = Address(target);
        Assert.Equal(mapped, mappings.Any(m => m.Start <= address && address + bytes <= m.End));
        long resident = mappings.Sum(m => m.Resident);
        Assert.Equal(resident, WeightMapping.ResidentBytes(path));
        if (mapped)
            Assert.True(resident >= bytes, $"{resident >> 20} MiB of the file resident for a 128 MiB weight");
        else
            Assert.True(resident < bytes / 2, $"{resident >> 20} MiB of the file still resident after reading a 128 MiB weight");
        Assert.True(target.eq(One).all().item<bool>(), "the loaded values");
    }

    /// <summary>
    /// A quantized model stores uint8 weights beside bf16 scales: two mappings of one file would count the pages the
    /// kernel maps around each fault twice in the resident memory. Every dtype shares one mapping, which goes away
    /// with the last tensor on it.
    /// </summary>
    [Fact]
    public void TensorsOfEveryDtypeShareOneMappingOfTheFile()
    {
        if (!OperatingSystem.IsLinux()) return;
        var path = _folder.File("mixed.safetensors");
        var stored = new Dictionary<string, Tensor>
        {
            ["bytes"] = arange(Zero, ByteCount, dtype: ScalarType.Int32).remainder(ByteModulus).to(ScalarType.Byte).reshape(64, 64),
            ["halves"] = linspace(-3, 3, 2048).to(ScalarType.BFloat16).reshape(32, 64),
            ["floats"] = linspace(-1, 1, 1000).reshape(10, 100),
        };
        SafetensorsWriter.Write(path, stored);

        var loaded = stored.ToDictionary(pair => pair.Key, pair => empty(pair.Value.shape, pair.Value.dtype));
        using (var file = SafetensorsFile.Open(path))
        {
            foreach (var (name, target) in loaded) file.LoadInto(name, target);
            file.CompleteLoading();
        }

        var mappings = Mappings(path);
        var holding = loaded.Values.Select(Address).Select(address => mappings.FindIndex(m => m.Start <= address && address < m.End)).ToList();
        Assert.DoesNotContain(-1, holding);
        Assert.Single(holding.Distinct());
        foreach (var (name, value) in stored)
            Assert.True(value.bytes.SequenceEqual(loaded[name].bytes), $"{name} as stored");

        foreach (var tensor in loaded.Values)
        {
            Assert.Contains(MappedFiles(), file => file == path);
            tensor.Dispose();
        }
        Assert.DoesNotContain(MappedFiles(), file => file == path);
        foreach (var value in stored.Values) value.Dispose();
    }

    [Fact]
    public void AViewIntoALargerTensorIsWrittenIntoNotGivenTheFilesPages()
    {
        var path = _folder.File("w.safetensors");
        using (var values = arange(FrontLength, ScalarType.Float32).to(ScalarType.BFloat16))
            SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["w"] = values });
        using var whole = zeros(16, ScalarType.BFloat16);
        using var front = whole.narrow(0, 0, 8);

        using (var file = SafetensorsFile.Open(path))
        {
            file.LoadInto("w", front);
            file.CompleteLoading();
        }

        Assert.Equal(Enumerable.Range(0, 8).Select(i => (float)i).Concat(new float[8]),
            whole.to(ScalarType.Float32).data<float>().ToArray());
    }

    /// <summary>
    /// A tensor loaded on its own is often used once and dropped (quantized while loading, converted): pages touched
    /// through the file's mapping would stay resident until the file is closed, so it is read instead.
    /// </summary>
    [Fact]
    public void ATensorLoadedOnItsOwnLeavesNoFilePagesResident()
    {
        if (!OperatingSystem.IsLinux()) return;
        var path = _folder.File("large.safetensors");
        const long rows = 16 << 10, columns = 4 << 10, bytes = rows * columns * 2;
        using (var values = ones([rows, columns], ScalarType.BFloat16))
            SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["w"] = values });

        using var file = SafetensorsFile.Open(path);
        using (var loaded = file.Load("w"))
            Assert.True(loaded.eq(One).all().item<bool>(), "the loaded values");
        using (var widened = file.Load("w", ScalarType.Float32))
            Assert.True(widened.eq(One).all().item<bool>(), "the converted values");

        long resident = WeightMapping.ResidentBytes(path);
        Assert.True(resident < bytes / 2, $"{resident >> 20} MiB of the file resident while it is open, after loading 128 MiB from it twice");
    }

    [Fact]
    public void WritingToAMappedWeightNeverChangesTheFile()
    {
        var path = _folder.File("w.safetensors");
        using (var values = arange(WeightLength, ScalarType.Float32))
            SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["w"] = values });
        var stored = File.ReadAllBytes(path);

        using (var file = SafetensorsFile.Open(path))
        using (var loaded = empty(1000))
        {
            file.LoadInto("w", loaded);
            file.CompleteLoading();
            loaded.add_(One, One);
            Assert.Equal(1f, loaded[0].item<float>());
        }

        Assert.Equal(stored, File.ReadAllBytes(path));
        using var again = SafetensorsFile.Open(path);
        using var reloaded = again.Load("w");
        Assert.Equal(0f, reloaded[0].item<float>());
    }

    [Fact]
    public void AFileCutShortAfterItWasOpenedGivesTheClearError()
    {
        var path = _folder.File("cut.safetensors");
        using (var a = arange(FirstLength, ScalarType.Float32))
        using (var b = arange(SecondLength, ScalarType.Float32))
            SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });

        using (var file = SafetensorsFile.Open(path))
        {
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Write))
                stream.SetLength(stream.Length - 1);
            var error = Assert.Throws<SafetensorsException>(() => file.Load("b").Dispose());
            Assert.Contains("truncated while open", error.Message);
            using var target = empty(1 << 20);
            error = Assert.Throws<SafetensorsException>(() => file.LoadInto("b", target));
            Assert.Contains("truncated while open", error.Message);
        }

        // Cut after the first tensor was mapped: the second one's pages are gone.
        var whole = _folder.File("whole.safetensors");
        using (var a = arange(FirstLength, ScalarType.Float32))
        using (var b = arange(SecondLength, ScalarType.Float32))
            SafetensorsWriter.Write(whole, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        using (var file = SafetensorsFile.Open(whole))
        {
            using var first = empty(4096);
            file.LoadInto("a", first);
            file.CompleteLoading();
            Assert.Equal(4095f, first[4095].item<float>());
            using (var stream = new FileStream(whole, FileMode.Open, FileAccess.Write))
                stream.SetLength(stream.Length - (1 << 19));
            var error = Assert.Throws<SafetensorsException>(() => file.Load("b").Dispose());
            Assert.Contains("truncated while open", error.Message);

            // A weight given the file's pages is made resident once the loader has them all: that is where it is noticed.
            using var target = empty(1 << 20);
            file.LoadInto("b", target);
            error = Assert.Throws<SafetensorsException>(file.CompleteLoading);
            Assert.Contains("truncated while open", error.Message);
        }
    }

    [Fact]
    public void AFileReachedThroughASymbolicLinkIsMappedWhole()
    {
        // The Hugging Face cache's snapshots link to its blobs.
        var blob = _folder.File("blob");
        using (var values = arange(BlobLength, ScalarType.Float32))
            SafetensorsWriter.Write(blob, new Dictionary<string, Tensor> { ["w"] = values });
        var link = _folder.File("linked.safetensors");
        File.CreateSymbolicLink(link, blob);

        using var file = SafetensorsFile.Open(link);
        using var loaded = empty(1 << 16);
        file.LoadInto("w", loaded);
        file.CompleteLoading();
        Assert.Equal((1 << 16) - 1f, loaded[-1].item<float>());
    }

    [Fact]
    public void DataNotAlignedForItsDtypeIsReadInstead()
    {
        // A header of odd length puts the data at an odd offset: no float32 view of the file can start there.
        var json = "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
        if (json.Length % 2 == 0) json += " ";
        var header = Encoding.UTF8.GetBytes(json);
        byte[] data = [.. BitConverter.GetBytes(1.5f), .. BitConverter.GetBytes(-2f), .. BitConverter.GetBytes(3.25f)];
        var path = _folder.File("odd.safetensors");
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. data]);

        using var file = SafetensorsFile.Open(path);
        using var x = file.Load("x");
        Assert.Equal(new[] { 1.5f, -2f, 3.25f }, x.data<float>().ToArray());
        using var into = empty(3);
        file.LoadInto("x", into);
        Assert.Equal(new[] { 1.5f, -2f, 3.25f }, into.data<float>().ToArray());
    }

    private static Dictionary<string, Tensor> Tensors(nn.Module module)
    {
        var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, parameter) in module.named_parameters()) tensors[name] = parameter;
        foreach (var (name, buffer) in module.named_buffers()) tensors.TryAdd(name, buffer);
        return tensors;
    }

    private static List<string> MappedFiles() =>
        File.ReadLines("/proc/self/maps").Select(line => line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries))
            .Where(fields => fields.Length == 6).Select(fields => fields[5].Trim()).Distinct().ToList();

    /// <summary>This process's mappings of <paramref name="path"/>: address range and resident bytes (/proc/self/smaps).</summary>
    private static List<(long Start, long End, long Resident)> Mappings(string path)
    {
        var mappings = new List<(long, long, long)>();
        (long Start, long End)? current = null;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length > 0 && fields[0].Contains('-') && !fields[0].EndsWith(':'))
            {
                var range = fields[0].Split('-');
                current = fields.Length == 6 && fields[5] == path
                    ? (Convert.ToInt64(range[0], 16), Convert.ToInt64(range[1], 16))
                    : null;
            }
            else if (current is { } mapping && fields is ["Rss:", var kilobytes, "kB"])
                mappings.Add((mapping.Start, mapping.End, long.Parse(kilobytes) * 1024));
        }
        return mappings;
    }

    private static unsafe long Address(Tensor tensor)
    {
        fixed (byte* data = tensor.bytes)
            return (long)data;
    }
}
