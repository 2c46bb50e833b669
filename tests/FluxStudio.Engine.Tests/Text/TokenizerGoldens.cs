using System.Text.Json;
using FluxStudio.Engine.Text;

namespace FluxStudio.Engine.Tests.Text;

/// <summary>tests/Fixtures/text-encoders/tokenizer_goldens.json and the real FLUX.1 vocabularies it was made with.</summary>
public static class TokenizerGoldens
{
    private static readonly Lazy<IReadOnlyDictionary<string, JsonElement>> Cases = new(LoadCases);
    private static readonly Lazy<ClipTokenizer> ClipInstance = new(() => ClipTokenizer.FromFolder(Fixtures.Path("tokenizers", "clip")));
    private static readonly Lazy<T5Tokenizer> T5Instance = new(() => T5Tokenizer.FromFolder(Fixtures.Path("tokenizers", "t5")));

    public static ClipTokenizer Clip => ClipInstance.Value;

    public static T5Tokenizer T5 => T5Instance.Value;

    public static TheoryData<string> CaseNames()
    {
        var names = new TheoryData<string>();
        foreach (var name in Cases.Value.Keys) names.Add(name);
        return names;
    }

    public static JsonElement Case(string name) => Cases.Value[name];

    public static string Prompt(string name) => Case(name).GetProperty("prompt").GetString()!;

    public static long[] Ids(string name, string column) =>
        Case(name).GetProperty(column).EnumerateArray().Select(id => id.GetInt64()).ToArray();

    public static int Int(string name, string column) => Case(name).GetProperty(column).GetInt32();

    public static string[] Strings(string name, string column) =>
        Case(name).GetProperty(column).EnumerateArray().Select(token => token.GetString()!).ToArray();

    private static IReadOnlyDictionary<string, JsonElement> LoadCases()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Fixtures.Path("text-encoders", "tokenizer_goldens.json")));
        return document.RootElement.GetProperty("cases").EnumerateArray()
            .ToDictionary(c => c.GetProperty("name").GetString()!, c => c.Clone());
    }
}
