using System.Text.Json;
using FluxStudio.Engine.Sampling;
using FluxStudio.Engine.Weights;

namespace FluxStudio.Engine.Tests.Sampling;

public sealed class SeededNoiseTests
{
    public static TheoryData<string> Runs() => ["a1", "a2", "a3"];

    private static JsonElement Args(string run) =>
        JsonDocument.Parse(File.ReadAllText(Fixtures.Path("pipeline-tiny", "runs", run, "args.json"))).RootElement;

    [Theory]
    [MemberData(nameof(Runs))]
    public void NoiseForASeedIsTheReferencesBitForBit(string run)
    {
        var args = Args(run);
        using var golden = SafetensorsFile.Open(Fixtures.Path("pipeline-tiny", "runs", run, "golden.safetensors"));
        using var noise = SeededNoise.Draw(args.GetProperty("seed").GetUInt64(), 4,
            args.GetProperty("height").GetInt32(), args.GetProperty("width").GetInt32(), downsampleFactor: 2);
        TensorAssert.Identical(golden.Load("noise"), noise, $"noise of run {run}");
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void ScheduleOfEachRunIsTheReferences(string run)
    {
        var args = Args(run);
        var expected = args.GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble());
        var actual = FlowMatchSchedule.Timesteps(args.GetProperty("num_steps").GetInt32(),
            args.GetProperty("image_seq_len").GetInt32(), args.GetProperty("shift").GetBoolean());
        Assert.Equal(expected, actual.Select(t => (double)t));
        Assert.Equal(args.GetProperty("mu").GetDouble(), FlowMatchSchedule.Mu(args.GetProperty("image_seq_len").GetInt32()), 12);
    }

    [Fact]
    public void DifferentSeedsGiveDifferentNoiseAndTheLargestSeedWorks()
    {
        using var a = SeededNoise.Draw(1, 4, 32, 32, 2);
        using var b = SeededNoise.Draw(2, 4, 32, 32, 2);
        using var c = SeededNoise.Draw(ulong.MaxValue, 4, 32, 32, 2);
        Assert.False(a.bytes.SequenceEqual(b.bytes));
        Assert.Equal(new long[] { 1, 4, 16, 16 }, c.shape);
        Assert.True(c.abs().max().item<float>() < 3.4f);
    }
}
