namespace FluxStudio.Engine.Text;

/// <summary>
/// SentencePiece's unigram segmentation: the Viterbi path of highest total piece score over the normalised
/// text, where a character that no piece starts with becomes <c>&lt;unk&gt;</c> (score: lowest piece score
/// minus 10), and runs of <c>&lt;unk&gt;</c> are merged. The arithmetic is SentencePiece's (0.1.x
/// <c>EncodeOptimized</c>): path scores are stored in single precision, a piece's candidate score is summed in
/// double precision and compared with the stored single, and a later candidate wins only when strictly
/// greater. Nearly tied segmentations (as in "!!!!!!") are decided by those roundings, so they must match.
/// </summary>
internal sealed class UnigramSegmenter
{
    private const float UnknownPenalty = 10f;

    private readonly Dictionary<string, (int Id, float Score)> _pieces = new(StringComparer.Ordinal);
    private readonly int _longestPiece;
    private readonly float _unknownScore;

    public UnigramSegmenter(IReadOnlyList<SentencePieceModel.Piece> pieces, int unknownId)
    {
        UnknownId = unknownId;
        var lowestScore = float.MaxValue;
        for (var id = 0; id < pieces.Count; id++)
        {
            // Only normal pieces take part; control, unknown and unused ones never come from text.
            if (pieces[id].Type != SentencePieceModel.PieceType.Normal) continue;
            _pieces.TryAdd(pieces[id].Text, (id, pieces[id].Score));
            _longestPiece = Math.Max(_longestPiece, pieces[id].Text.Length);
            lowestScore = Math.Min(lowestScore, pieces[id].Score);
        }
        _unknownScore = lowestScore - UnknownPenalty;
    }

    public int UnknownId { get; }

    public List<int> Segment(string normalized)
    {
        var length = normalized.Length;
        var bestScore = new float[length + 1];
        var bestStart = new int[length + 1];
        var bestId = new int[length + 1];
        Array.Fill(bestStart, -1);

        for (var start = 0; start < length; start = NextCharacter(normalized, start))
        {
            var scoreSoFar = bestScore[start];
            var characterEnd = NextCharacter(normalized, start);
            var singleCharacterPiece = false;
            var maxEnd = Math.Min(length, start + _longestPiece);
            for (var end = characterEnd; end <= maxEnd; end = end < length ? NextCharacter(normalized, end) : end + 1)
            {
                if (!_pieces.TryGetValue(normalized[start..end], out var piece)) continue;
                Offer(end, (double)piece.Score + scoreSoFar, start, piece.Id);
                if (end == characterEnd) singleCharacterPiece = true;
            }
            if (!singleCharacterPiece) Offer(characterEnd, _unknownScore + scoreSoFar, start, UnknownId);
        }

        var ids = new List<int>();
        for (var end = length; end > 0; end = bestStart[end]) ids.Add(bestId[end]);
        ids.Reverse();

        var merged = new List<int>(ids.Count);
        foreach (var id in ids)
        {
            if (id == UnknownId && merged.Count > 0 && merged[^1] == UnknownId) continue;
            merged.Add(id);
        }
        return merged;

        void Offer(int end, double score, int start, int id)
        {
            if (bestStart[end] != -1 && !(score > bestScore[end])) return;
            bestScore[end] = (float)score;
            bestStart[end] = start;
            bestId[end] = id;
        }
    }

    private static int NextCharacter(string text, int index) =>
        index + (char.IsHighSurrogate(text[index]) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]) ? 2 : 1);
}
