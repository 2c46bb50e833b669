using FluxStudio.App.History;

namespace FluxStudio.Web.Services;

/// <summary>Numbered pages over the history's keyset cursor, newest first, optionally filtered by a search.</summary>
public static class HistoryPaging
{
    public const int MaxPageSize = 100;

    public static async Task<(IReadOnlyList<HistoryEntry> Entries, bool HasMore)> GetPageAsync(
        HistoryStore history, int page, int pageSize, string? query, CancellationToken ct)
    {
        HistoryCursor? cursor = null;
        for (var current = 1; ; current++)
        {
            var result = string.IsNullOrWhiteSpace(query)
                ? await history.ListAsync(pageSize, cursor, ct)
                : await history.SearchAsync(query, pageSize, cursor, ct);
            if (current == page)
                return (result.Entries, result.Next is not null);
            if (result.Next is null)
                return ([], false);
            cursor = result.Next;
        }
    }
}
