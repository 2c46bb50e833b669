namespace FluxStudio.Web.Api;

/// <summary>Turns the validator's field names (<c>Loras[1].Scale</c>) into the JSON names clients send (<c>loras[1].scale</c>).</summary>
public static class ProblemFields
{
    private static readonly Dictionary<string, string> Renamed = new(StringComparer.Ordinal) { ["ModelPath"] = "path" };

    public static Dictionary<string, string[]> ToJsonNames(IReadOnlyDictionary<string, string> errors) =>
        errors.ToDictionary(e => ToJsonName(e.Key), e => new[] { e.Value }, StringComparer.Ordinal);

    public static string ToJsonName(string field) =>
        string.Join('.', field.Split('.').Select(part => Renamed.TryGetValue(part, out var name) ? name : CamelCase(part)));

    private static string CamelCase(string part) => part.Length == 0 ? part : char.ToLowerInvariant(part[0]) + part[1..];
}
