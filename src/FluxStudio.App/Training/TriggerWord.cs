using System.Text.RegularExpressions;

namespace FluxStudio.App.Training;

/// <summary>
/// The word that calls up what a LoRA learned: DreamBooth captions share a made-up token for the subject ("photo of
/// sks dog", "sks dog in the snow"), which becomes the LoRA's activation keyword in the catalog.
/// </summary>
public static partial class TriggerWord
{
    /// <summary>Words every caption may share without naming the subject.</summary>
    private static readonly HashSet<string> Common = new(StringComparer.OrdinalIgnoreCase)
    {
        "a", "an", "the", "of", "in", "on", "at", "with", "and", "or", "to", "by", "for", "from", "is", "are", "its", "his", "her",
        "photo", "picture", "image", "portrait", "style", "close", "up", "shot", "view", "background", "front", "side",
    };

    /// <summary>
    /// The first word of the first caption that every caption has and that is not a common word, or "" when the captions
    /// share none.
    /// </summary>
    public static string FromCaptions(IReadOnlyList<string> captions)
    {
        if (captions.Count == 0) return "";
        var shared = captions.Skip(1).Aggregate(
            Words(captions[0]).ToHashSet(StringComparer.OrdinalIgnoreCase),
            (set, caption) =>
            {
                set.IntersectWith(Words(caption));
                return set;
            });
        return Words(captions[0]).FirstOrDefault(word => shared.Contains(word) && !Common.Contains(word)) ?? "";
    }

    private static IEnumerable<string> Words(string caption) => Word().Matches(caption).Select(match => match.Value);

    [GeneratedRegex(@"[\p{L}\p{N}_]+")]
    private static partial Regex Word();
}
