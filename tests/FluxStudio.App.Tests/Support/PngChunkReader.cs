using System.Text;

namespace FluxStudio.App.Tests.Support;

/// <summary>
/// A PNG chunk parser written from the PNG specification, independent of the code under test: it walks the
/// chunks, checks every CRC with its own table, and decodes tEXt and uncompressed iTXt chunks.
/// </summary>
public static class PngChunkReader
{
    public sealed record Chunk(string Type, byte[] Data, uint StoredCrc, uint ComputedCrc);

    public static List<Chunk> ReadChunks(byte[] png)
    {
        byte[] signature = [137, 80, 78, 71, 13, 10, 26, 10];
        if (png.Length < 8 || !png.AsSpan(0, 8).SequenceEqual(signature))
            throw new InvalidDataException("No PNG signature.");
        var chunks = new List<Chunk>();
        var offset = 8;
        while (offset < png.Length)
        {
            var length = (int)ReadUInt32(png, offset);
            var type = Encoding.ASCII.GetString(png, offset + 4, 4);
            var data = png.AsSpan(offset + 8, length).ToArray();
            var stored = ReadUInt32(png, offset + 8 + length);
            var computed = Crc(png.AsSpan(offset + 4, 4 + length));
            chunks.Add(new Chunk(type, data, stored, computed));
            offset += 12 + length;
            if (type == "IEND")
                break;
        }
        return chunks;
    }

    /// <summary>Text chunks by keyword.</summary>
    public static Dictionary<string, string> ReadText(byte[] png)
    {
        var result = new Dictionary<string, string>();
        foreach (var chunk in ReadChunks(png))
        {
            if (chunk.Type == "tEXt")
            {
                var zero = Array.IndexOf(chunk.Data, (byte)0);
                result[Encoding.Latin1.GetString(chunk.Data, 0, zero)] = Encoding.Latin1.GetString(chunk.Data, zero + 1, chunk.Data.Length - zero - 1);
            }
            else if (chunk.Type == "iTXt")
            {
                var zero = Array.IndexOf(chunk.Data, (byte)0);
                var keyword = Encoding.Latin1.GetString(chunk.Data, 0, zero);
                if (chunk.Data[zero + 1] != 0)
                    throw new InvalidDataException("Compressed iTXt is not expected here.");
                var languageEnd = Array.IndexOf(chunk.Data, (byte)0, zero + 3);
                var translatedEnd = Array.IndexOf(chunk.Data, (byte)0, languageEnd + 1);
                result[keyword] = Encoding.UTF8.GetString(chunk.Data, translatedEnd + 1, chunk.Data.Length - translatedEnd - 1);
            }
        }
        return result;
    }

    private static uint ReadUInt32(byte[] bytes, int offset) =>
        (uint)(bytes[offset] << 24 | bytes[offset + 1] << 16 | bytes[offset + 2] << 8 | bytes[offset + 3]);

    private static readonly uint[] Table = Enumerable.Range(0, 256).Select(n =>
    {
        var c = (uint)n;
        for (var k = 0; k < 8; k++)
            c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        return c;
    }).ToArray();

    private static uint Crc(ReadOnlySpan<byte> bytes)
    {
        var c = 0xFFFFFFFFu;
        foreach (var b in bytes)
            c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return c ^ 0xFFFFFFFFu;
    }
}
