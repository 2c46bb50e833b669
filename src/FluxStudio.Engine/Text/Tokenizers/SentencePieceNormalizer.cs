using System.Buffers.Binary;
using System.Text;

namespace FluxStudio.Engine.Text;

/// <summary>
/// SentencePiece's normaliser: the model's precompiled character map (for T5 an NFKC-like map that also turns
/// tabs, newlines and invisible spaces into spaces and deletes control characters), applied longest match first
/// over the UTF-8 bytes, then leading, trailing and repeated spaces removed, a dummy "▁" prefix and spaces
/// written as "▁".
/// </summary>
internal sealed class SentencePieceNormalizer
{
    private const string SpaceSymbol = "\u2581";
    private static readonly byte[] ReplacementCharacter = [0xEF, 0xBF, 0xBD];

    private readonly uint[] _trie;
    private readonly byte[] _replacements;
    private readonly SentencePieceModel.NormalizerSpec _spec;

    /// <exception cref="InvalidDataException">The character map is malformed.</exception>
    public SentencePieceNormalizer(SentencePieceModel.NormalizerSpec spec)
    {
        _spec = spec;
        var blob = spec.PrecompiledCharsMap;
        if (blob.Length == 0)
        {
            _trie = [];
            _replacements = [];
            return;
        }
        // <trie size: uint32 LE><double-array trie: uint32 LE units><replacement strings, each NUL-terminated>
        if (blob.Length < 4) throw new InvalidDataException("The precompiled character map is truncated.");
        var trieSize = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieSize % 4 != 0 || trieSize > blob.Length - 4) throw new InvalidDataException("The precompiled character map is malformed.");
        _trie = new uint[trieSize / 4];
        for (var i = 0; i < _trie.Length; i++) _trie[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(4 + 4 * i));
        _replacements = blob[(4 + (int)trieSize)..];
    }

    public string Normalize(string text)
    {
        ReadOnlySpan<byte> input = Encoding.UTF8.GetBytes(text);
        var output = new List<byte>(input.Length + 8);

        if (_spec.RemoveExtraWhitespaces)
        {
            while (!input.IsEmpty)
            {
                var consumed = NormalizePrefix(input, out var replacement);
                if (!replacement.SequenceEqual(" "u8)) break;
                input = input[consumed..];
            }
        }
        if (input.IsEmpty) return "";

        var space = _spec.EscapeWhitespaces ? Encoding.UTF8.GetBytes(SpaceSymbol) : " "u8.ToArray();
        if (_spec.AddDummyPrefix) output.AddRange(space);

        var previousWasSpace = _spec.RemoveExtraWhitespaces;
        while (!input.IsEmpty)
        {
            var consumed = NormalizePrefix(input, out var replacement);
            if (previousWasSpace)
            {
                while (!replacement.IsEmpty && replacement[0] == (byte)' ') replacement = replacement[1..];
            }
            if (!replacement.IsEmpty)
            {
                foreach (var b in replacement)
                {
                    if (_spec.EscapeWhitespaces && b == (byte)' ') output.AddRange(space);
                    else output.Add(b);
                }
                previousWasSpace = replacement[^1] == (byte)' ';
            }
            input = input[consumed..];
            if (!_spec.RemoveExtraWhitespaces) previousWasSpace = false;
        }

        if (_spec.RemoveExtraWhitespaces)
        {
            while (output.Count >= space.Length && output[^space.Length..].SequenceEqual(space))
            {
                output.RemoveRange(output.Count - space.Length, space.Length);
            }
        }
        return Encoding.UTF8.GetString(output.ToArray());
    }

    /// <summary>Maps the longest mapped prefix of <paramref name="input"/>, or else its first character.</summary>
    /// <returns>How many bytes of <paramref name="input"/> were consumed.</returns>
    private int NormalizePrefix(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        var (length, offset) = LongestMappedPrefix(input);
        if (length > 0)
        {
            replacement = _replacements.AsSpan(offset);
            var end = replacement.IndexOf((byte)0);
            if (end >= 0) replacement = replacement[..end];
            return length;
        }
        if (Rune.DecodeFromUtf8(input, out _, out var consumed) == System.Buffers.OperationStatus.Done)
        {
            replacement = input[..consumed];
            return consumed;
        }
        replacement = ReplacementCharacter;
        return 1;
    }

    // Common-prefix search in the darts-clone double array that SentencePiece stores: each unit packs a label
    // (low byte, plus bit 31 for leaves), a has-leaf flag (bit 8) and an offset to its children (bits 10-31,
    // shifted by 8 when bit 9 is set); a leaf unit holds the value (here an offset into the replacements).
    private (int Length, int Offset) LongestMappedPrefix(ReadOnlySpan<byte> key)
    {
        if (_trie.Length == 0) return (0, 0);
        var (bestLength, bestValue) = (0, 0);
        var position = ChildOffset(_trie[0]);
        for (var i = 0; i < key.Length; i++)
        {
            position ^= key[i];
            if (position >= (uint)_trie.Length) break;
            var unit = _trie[position];
            if ((unit & ((1u << 31) | 0xFF)) != key[i]) break;
            position ^= ChildOffset(unit);
            if (((unit >> 8) & 1) == 1 && position < (uint)_trie.Length)
            {
                (bestLength, bestValue) = (i + 1, (int)(_trie[position] & int.MaxValue));
            }
        }
        if (bestLength > 0 && bestValue >= _replacements.Length) throw new InvalidDataException("The precompiled character map points outside its strings.");
        return (bestLength, bestValue);
    }

    private static uint ChildOffset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);
}
