using System.Globalization;

namespace FluxStudio.App.History;

/// <summary>A page of history, newest first. Pass <see cref="Next"/> back to get the following page.</summary>
public sealed record HistoryPage(IReadOnlyList<HistoryEntry> Entries, HistoryCursor? Next);

/// <summary>
/// Where a page ended: the (timestamp, id) of its last entry. Keyset paging keeps pages stable while images
/// are added or deleted, which list indexes (the original app's approach) do not.
/// </summary>
public sealed record HistoryCursor(string Timestamp, long Id)
{
    public override string ToString() => $"{Timestamp}|{Id.ToString(CultureInfo.InvariantCulture)}";

    public static bool TryParse(string? text, out HistoryCursor? cursor)
    {
        cursor = null;
        var bar = text?.LastIndexOf('|') ?? -1;
        if (bar <= 0 || !long.TryParse(text.AsSpan(bar + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            return false;
        cursor = new HistoryCursor(text![..bar], id);
        return true;
    }
}
