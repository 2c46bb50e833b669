using System.Text;
using FluxStudio.Engine.Weights;
using TorchSharp;
using static TorchSharp.torch;

namespace FluxStudio.Engine.Tests.Weights;

public sealed class SafetensorsFileTests : IDisposable
{
    private static readonly Scalar LargeCount = 6_000_000, ShardValue = 7f;

    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(byte[] bytes, string name = "bad.safetensors")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] FileWithHeader(string json, int dataBytes)
    {
        var header = Encoding.UTF8.GetBytes(json);
        return [.. BitConverter.GetBytes((ulong)header.Length), .. header, .. new byte[dataBytes]];
    }

    [Fact]
    public void ReadsTheFixtureTransformerLazilyWithExactValues()
    {
        using var file = SafetensorsFile.Open(Fixtures.Path("flux-tiny", "transformer_bfl", "flux1-tiny.safetensors"));
        var info = file.Info("double_blocks.0.img_attn.qkv.weight");
        Assert.Equal(ScalarType.BFloat16, info.DType);
        Assert.Equal(new long[] { 192, 64 }, info.Shape);

        using var tensor = file.Load("double_blocks.0.img_attn.qkv.weight");
        Assert.Equal(ScalarType.BFloat16, tensor.dtype);
        // The stored bytes are the tensor's bytes, and the float32 widening is exact.
        Assert.Equal(file.RawBytes("double_blocks.0.img_attn.qkv.weight").ToArray(), tensor.bytes.ToArray());
        using var widened = file.Load("double_blocks.0.img_attn.qkv.weight", ScalarType.Float32);
        Assert.Equal(0f, (widened.to(ScalarType.BFloat16).to(ScalarType.Float32) - widened).abs().max().item<float>());
    }

    [Fact]
    public void WriterRoundTripsEveryDtypeAndMetadata()
    {
        var path = Path.Combine(_dir, "round.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["bf16"] = randn(3, 5).to(ScalarType.BFloat16),
            ["f16"] = randn(2, 2).to(ScalarType.Float16),
            ["f32"] = randn(4),
            ["f64"] = randn(2, 3, dtype: ScalarType.Float64),
            ["i64"] = tensor(new long[] { long.MinValue, 0, long.MaxValue }),
            ["i32"] = tensor(new[] { int.MinValue, 7 }),
            ["i16"] = tensor(new short[] { -3, 3 }),
            ["i8"] = tensor(new sbyte[] { -128, 127 }),
            ["u8"] = tensor(new byte[] { 0, 255 }),
            ["bool"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(2.5f),
            ["empty"] = zeros(0, 4),
        };
        SafetensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        // The header is padded to a multiple of 8 bytes, so 8-byte-aligned tensors stay aligned.
        Assert.Equal(0, (new FileInfo(path).Length - file.Names.Sum(n => file.Info(n).ByteLength)) % 8);
        foreach (var (name, expected) in tensors)
        {
            using var actual = file.Load(name);
            Assert.Equal(expected.dtype, actual.dtype);
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(expected.bytes.SequenceEqual(actual.bytes), $"{name} differs after the round trip");
        }
    }

    [Fact]
    public void ConvertsDtypeOnLoad()
    {
        var path = Path.Combine(_dir, "convert.safetensors");
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["x"] = tensor(new float[] { 1.5f, -2f }) });
        using var file = SafetensorsFile.Open(path);
        using var x = file.Load("x", ScalarType.Float64);
        Assert.Equal(ScalarType.Float64, x.dtype);
        Assert.Equal(new[] { 1.5, -2.0 }, x.data<double>().ToArray());
    }

    [Fact]
    public void LoadsIntoExistingTensorsDirectlyOrConverting()
    {
        var path = Path.Combine(_dir, "into.safetensors");
        var large = arange(LargeCount, ScalarType.Float32).reshape(3000, 2000); // 24 MB: the chunked, parallel copy
        var small = randn(7, 3).to(ScalarType.BFloat16);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["large"] = large, ["small"] = small });
        using var file = SafetensorsFile.Open(path);

        using var sameType = empty(3000, 2000);
        file.LoadInto("large", sameType);
        Assert.True(large.bytes.SequenceEqual(sameType.bytes));

        using var widened = empty(7, 3);
        file.LoadInto("small", widened);
        Assert.Equal(small.to(ScalarType.Float32).data<float>().ToArray(), widened.data<float>().ToArray());
    }

    [Fact]
    public void ReadsShardedCheckpointsThroughTheirIndex()
    {
        SafetensorsWriter.Write(Path.Combine(_dir, "model-00001-of-00002.safetensors"), new Dictionary<string, Tensor> { ["a"] = ones(2) });
        SafetensorsWriter.Write(Path.Combine(_dir, "model-00002-of-00002.safetensors"), new Dictionary<string, Tensor> { ["b"] = full(3, ShardValue) });
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"),
            """{"metadata": {"total_size": 20}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}""");

        using var source = TensorSources.Open(_dir);
        Assert.Equal(["a", "b"], source.Names.Order());
        using var b = source.Load("b");
        Assert.Equal(new float[] { 7, 7, 7 }, b.data<float>().ToArray());
    }

    [Fact]
    public void AShardIndexPointingToAMissingFileSaysWhich()
    {
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"), """{"weight_map": {"a": "gone.safetensors"}}""");
        var error = Assert.Throws<SafetensorsException>(() => TensorSources.Open(_dir));
        Assert.Contains("gone.safetensors is missing", error.Message);
    }

    [Fact]
    public void AShardIndexPuttingATensorInTheWrongShardSaysSoWhicheverTensorIsReadFirst()
    {
        SafetensorsWriter.Write(Path.Combine(_dir, "model-00001-of-00002.safetensors"), new Dictionary<string, Tensor> { ["a"] = ones(2) });
        SafetensorsWriter.Write(Path.Combine(_dir, "model-00002-of-00002.safetensors"), new Dictionary<string, Tensor> { ["b"] = ones(2) });
        File.WriteAllText(Path.Combine(_dir, "model.safetensors.index.json"),
            """{"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors"}}""");

        using var source = TensorSources.Open(_dir);
        using (var a = source.Load("a"))
            Assert.Equal(new float[] { 1, 1 }, a.data<float>().ToArray());
        var error = Assert.Throws<SafetensorsException>(() => source.Load("b"));
        Assert.Contains("the index puts 'b' in model-00001-of-00002.safetensors, which does not hold it", error.Message);
    }

    [Fact]
    public void RefusesPickledCheckpoints()
    {
        var path = Write([1, 2, 3], "model.bin");
        var error = Assert.Throws<NotSupportedException>(() => TensorSources.Open(path));
        Assert.Contains("only .safetensors", error.Message);
    }

    public static TheoryData<string, byte[], string> MalformedFiles() => new()
    {
        { "truncated", [1, 2, 3], "truncated (3 bytes)" },
        { "header past end", [.. BitConverter.GetBytes(1000UL), .. "{}"u8.ToArray()], "runs past the end of the file" },
        { "invalid json", FileWithHeader("{\"a\": [", 0), "not valid JSON" },
        { "not an object", FileWithHeader("[1, 2]", 0), "not a JSON object" },
        { "offsets outside", FileWithHeader("""{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}""", 8), "outside the 8 bytes of data" },
        { "overlap", FileWithHeader("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12), "overlap" },
        { "unknown dtype", FileWithHeader("""{"a":{"dtype":"F8_E9M9","shape":[2],"data_offsets":[0,2]}}""", 2), "unknown dtype 'F8_E9M9'" },
        { "size mismatch", FileWithHeader("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8), "(12 bytes) but 8 bytes of data" },
        { "negative dim", FileWithHeader("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}""", 0), "invalid shape" },
        { "no offsets", FileWithHeader("""{"a":{"dtype":"F32","shape":[1]}}""", 4), "no valid data_offsets" },
    };

    [Theory]
    [MemberData(nameof(MalformedFiles))]
    public void MalformedFilesGiveAnErrorNamingTheFileAndTheProblem(string name, byte[] bytes, string problem)
    {
        var path = Write(bytes, name.Replace(' ', '_') + ".safetensors");
        var error = Assert.Throws<SafetensorsException>(() => SafetensorsFile.Open(path));
        Assert.StartsWith(path, error.Message);
        Assert.Contains(problem, error.Message);
    }
}
