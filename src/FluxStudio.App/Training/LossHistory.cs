using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace FluxStudio.App.Training;

/// <summary>The loss of training step <see cref="Step"/> (the batch loss before its update), and when it was measured.</summary>
public sealed record LossPoint(int Step, double Loss, DateTime Time);

/// <summary>The losses of a run as the original app's checkpoints hold them: <c>loss.json</c>, a list of {step, loss, time}.</summary>
public static class LossHistory
{
    private const string TimeFormat = "yyyy-MM-dd HH:mm:ss";

    public static string ToJson(IEnumerable<LossPoint> losses) =>
        new JsonArray([.. losses.Select(point => new JsonObject
        {
            ["step"] = point.Step,
            ["loss"] = point.Loss,
            ["time"] = point.Time.ToString(TimeFormat, CultureInfo.InvariantCulture),
        })]).ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <exception cref="FormatException">The text is not such a list.</exception>
    public static IReadOnlyList<LossPoint> FromJson(string json)
    {
        try
        {
            var items = JsonNode.Parse(json) as JsonArray ?? throw new FormatException("The loss file does not hold a list.");
            return [.. items.Select(item => new LossPoint(
                item!["step"]!.GetValue<int>(),
                item["loss"]!.GetValue<double>(),
                item["time"] is { } time
                    ? DateTime.ParseExact(time.GetValue<string>(), TimeFormat, CultureInfo.InvariantCulture)
                    : default))];
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NullReferenceException)
        {
            throw new FormatException($"The loss file is not a list of {{step, loss, time}}: {e.Message}", e);
        }
    }
}
