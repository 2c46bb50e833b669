using System.Text.Json;
using FluxStudio.Engine.Sampling;

namespace FluxStudio.Engine.Tests.Sampling;

public sealed class FlowMatchScheduleTests
{
    public static TheoryData<int, int, bool, double[]> ReferenceSchedules()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("flux-tiny", "schedules.json")));
        var data = new TheoryData<int, int, bool, double[]>();
        foreach (var schedule in document.RootElement.GetProperty("schedules").EnumerateArray())
        {
            var args = schedule.GetProperty("args");
            Assert.Equal(0.5, args.GetProperty("base_shift").GetDouble());
            Assert.Equal(1.15, args.GetProperty("max_shift").GetDouble());
            data.Add(args.GetProperty("num_steps").GetInt32(), args.GetProperty("image_seq_len").GetInt32(),
                args.GetProperty("shift").GetBoolean(),
                schedule.GetProperty("timesteps").EnumerateArray().Select(t => t.GetDouble()).ToArray());
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(ReferenceSchedules))]
    public void MatchesTheReferenceScheduleExactly(int steps, int sequenceLength, bool shift, double[] expected)
    {
        var actual = FlowMatchSchedule.Timesteps(steps, sequenceLength, shift);
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-6, $"t[{i}] = {actual[i]:R}, reference {expected[i]:R}");
        Assert.Equal(expected, actual.Select(t => (double)t));
    }

    [Fact]
    public void MuFollowsTheLineThroughBothAnchors()
    {
        Assert.Equal(0.5, FlowMatchSchedule.Mu(256), 12);
        Assert.Equal(1.15, FlowMatchSchedule.Mu(4096), 12);
        Assert.Equal(0.47291666666666665, FlowMatchSchedule.Mu(96), 12);
    }

    [Fact]
    public void RejectsZeroSteps() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => FlowMatchSchedule.Timesteps(0, 256, shift: false));
}
