using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace FluxStudio.App.Outputs;

/// <summary>
/// Adds text chunks to an encoded PNG. Text that fits Latin-1 goes in a <c>tEXt</c> chunk, anything else in an
/// uncompressed UTF-8 <c>iTXt</c> chunk, as PIL (and so A1111 and Forge) do, so their readers find it.
/// </summary>
public static class PngText
{
    private static readonly byte[] Signature = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];
    private static readonly Encoding Latin1 = Encoding.Latin1;

    /// <summary>Returns a copy of <paramref name="png"/> with the text chunk placed right after <c>IHDR</c>.</summary>
    public static byte[] Insert(byte[] png, string keyword, string text)
    {
        ArgumentNullException.ThrowIfNull(png);
        if (keyword.Length is 0 or > 79 || keyword.Any(c => c < 32 || c > 126))
            throw new ArgumentException("A PNG text keyword has 1 to 79 printable Latin-1 characters.", nameof(keyword));
        var ihdrEnd = EndOfHeaderChunk(png);

        var chunk = IsLatin1(text) ? TextChunk(keyword, text) : InternationalTextChunk(keyword, text);
        var result = new byte[png.Length + chunk.Length];
        png.AsSpan(0, ihdrEnd).CopyTo(result);
        chunk.CopyTo(result, ihdrEnd);
        png.AsSpan(ihdrEnd).CopyTo(result.AsSpan(ihdrEnd + chunk.Length));
        return result;
    }

    private static int EndOfHeaderChunk(byte[] png)
    {
        if (png.Length < 33 || !png.AsSpan(0, 8).SequenceEqual(Signature) || !png.AsSpan(12, 4).SequenceEqual("IHDR"u8)
            || BinaryPrimitives.ReadUInt32BigEndian(png.AsSpan(8)) != 13)
            throw new FormatException("The image is not a PNG (no PNG signature and IHDR header).");
        return 8 + 4 + 4 + 13 + 4;
    }

    private static bool IsLatin1(string text) => text.All(c => c <= 0xFF);

    private static byte[] TextChunk(string keyword, string text)
    {
        var data = new byte[keyword.Length + 1 + Latin1.GetByteCount(text)];
        Latin1.GetBytes(keyword, data);
        Latin1.GetBytes(text, data.AsSpan(keyword.Length + 1));
        return Chunk("tEXt"u8, data);
    }

    private static byte[] InternationalTextChunk(string keyword, string text)
    {
        // keyword \0 compression-flag(0) compression-method(0) language-tag \0 translated-keyword \0 text
        var utf8 = Encoding.UTF8.GetBytes(text);
        var data = new byte[keyword.Length + 5 + utf8.Length];
        Latin1.GetBytes(keyword, data);
        utf8.CopyTo(data, keyword.Length + 5);
        return Chunk("iTXt"u8, data);
    }

    private static byte[] Chunk(ReadOnlySpan<byte> type, byte[] data)
    {
        var chunk = new byte[12 + data.Length];
        BinaryPrimitives.WriteInt32BigEndian(chunk, data.Length);
        type.CopyTo(chunk.AsSpan(4));
        data.CopyTo(chunk, 8);
        // The CRC covers the chunk type and data, not the length.
        BinaryPrimitives.WriteUInt32BigEndian(chunk.AsSpan(8 + data.Length), Crc32.HashToUInt32(chunk.AsSpan(4, 4 + data.Length)));
        return chunk;
    }
}
