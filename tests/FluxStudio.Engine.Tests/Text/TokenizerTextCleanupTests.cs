using FluxStudio.Engine.Text;

namespace FluxStudio.Engine.Tests.Text;

/// <summary>
/// Prompt clean-up and splitting beyond the golden set. Expected values are what the reference produces
/// (ftfy 6.3.1 fix_text + whitespace_clean + str.lower, the CLIP regex compiled case-insensitive, byte-level
/// BPE over the FLUX vocabulary; SentencePiece 0.1.97 for T5), computed once with those tools.
/// </summary>
public class TokenizerTextCleanupTests
{
    [Theory]
    [InlineData("&amp;amp; double", "& double")] // fixed until nothing changes
    [InlineData("<b>&amp;</b> html source", "<b>&amp;</b> html source")] // a line with "<" is HTML source
    [InlineData("a\n&lt;x&gt; later lines <", "a &lt;x&gt; later lines <")]
    [InlineData("&lt;b&gt; first\nthen <i>", "<b> first then <i>")] // earlier lines are still decoded
    [InlineData("&#x2019;s &#150; &#0; &#65; &#12ab; &#xD800;", "'s \u2013 \uFFFD a &#12ab; \uFFFD")]
    [InlineData("&NTILDE; &EACUTE; &nTILDE; &bogus; &hellip;", "\u00F1 \u00E9 &ntilde; &bogus; \u2026")]
    [InlineData("\uFF2C\uFF2F\uFF35\uFF24\u3000\uFF2E\uFF2F\uFF29\uFF33\uFF25\uFF33 \uFF76\uFF80\uFF76\uFF85", "loud noises \u30AB\u30BF\u30AB\u30CA")]
    [InlineData("\uFB00 \uFB01 \uFB02 \uFB03 \uFB04 \uFB06 \u0133", "ff fi fl ffi ffl st ij")]
    [InlineData("\u0093quoted\u0094 \u0096", "\"quoted\" \u2013")] // C1 controls read as Windows-1252
    [InlineData("ctrl\u0000a\u0001b\u007Fc\uFEFFd", "ctrlabcd")]
    [InlineData("\u001B[31mred\u001B[0m", "red")]
    [InlineData("cafe\u0301", "caf\u00E9")]
    [InlineData("tab\tnew\nline\r\ncr\rnbsp\u00A0ideo\u3000end  ", "tab new line cr nbsp ideo end")]
    [InlineData("\u039F\u0394\u03A5\u03A3\u03A3\u0395\u03A5\u03A3 \u03A3\u0391\u03A3", "\u03BF\u03B4\u03C5\u03C3\u03C3\u03B5\u03C5\u03C2 \u03C3\u03B1\u03C2")] // final sigma
    [InlineData("\u0130stanbul", "i\u0307stanbul")]
    public void Clip_clean_up_matches_ftfy_whitespace_clean_and_python_lower(string prompt, string expected)
    {
        Assert.Equal(expected, ClipTextNormalizer.Instance.Normalize(prompt));
    }

    [Theory]
    [InlineData("it'\u017F a\u0345b", new[] { 585, 6, 129, 379, 320, 321 })] // long s ends a contraction; U+0345 separates
    [InlineData("\U0001D401\U0001D428\U0001D425\U0001D41D \U00020000x", new[] { 15889, 223, 15889, 101, 15889, 98, 15889, 507, 172, 254, 222, 222, 343 })]
    [InlineData("<|endoftext|> a<|startoftext|>b", new[] { 49407, 320, 49406, 321 })]
    [InlineData("?'s '''s", new[] { 13610, 338, 6, 8445, 338 })]
    [InlineData("x\u00BD\u0663", new[] { 343, 33613, 149, 352 })] // every digit is a word of its own
    [InlineData("a\uFFFEb", new[] { 320, 27850, 378, 321 })] // a noncharacter that .NET will not normalise
    public void Clip_splits_words_like_the_reference_pattern(string prompt, int[] expectedBpeIds)
    {
        var expected = new long[ClipTokenizer.MaxLength];
        Array.Fill(expected, 49407L);
        expected[0] = 49406;
        for (var i = 0; i < expectedBpeIds.Length; i++) expected[i + 1] = expectedBpeIds[i];

        Assert.Equal(expected, TokenizerGoldens.Clip.Encode(prompt));
    }

    [Theory]
    [InlineData("masterpiece!!!!!!", new[] { 20975, 55, 17065 })] // nearly tied segmentations
    [InlineData("wait.......", new[] { 1749, 14125, 5 })]
    [InlineData("????", new[] { 3, 8665, 58 })]
    [InlineData("ctrl\u0001b\u0007c", new[] { 3, 75, 17, 52, 40, 115, 75 })] // control characters deleted
    [InlineData("x\u200By\u3000z", new[] { 3, 226, 3, 63, 3, 172 })] // invisible and ideographic spaces
    [InlineData("\uFF11\uFF19\uFF12\uFF10\u00D7\uFF11\uFF10\uFF18\uFF10 \u00BD", new[] { 13978, 2, 1714, 2079, 209, 2, 357 })]
    public void T5_matches_sentencepiece_beyond_the_golden_set(string prompt, int[] expectedPieces)
    {
        var expected = new long[T5Tokenizer.SchnellMaxLength];
        for (var i = 0; i < expectedPieces.Length; i++) expected[i] = expectedPieces[i];
        expected[expectedPieces.Length] = 1;

        Assert.Equal(expected, TokenizerGoldens.T5.Encode(prompt, T5Tokenizer.SchnellMaxLength));
    }

    [Fact]
    public void A_long_prompt_reports_how_many_tokens_each_encoder_ignores()
    {
        var prompt = TokenizerGoldens.Prompt("long_t5_over512");

        var clip = TokenizerGoldens.Clip.Tokenize(prompt);
        var t5 = TokenizerGoldens.T5.Tokenize(prompt, T5Tokenizer.DevMaxLength);

        Assert.True(clip.IsTruncated);
        Assert.Equal(845 - 77, clip.IgnoredTokenCount);
        Assert.Equal(903 - 512, t5.IgnoredTokenCount);
        Assert.Equal(1, t5.Ids[^1]); // truncation keeps the end-of-sentence token
        Assert.Equal(49407, clip.Ids[^1]);
    }

    [Fact]
    public void A_prompt_that_fits_ignores_nothing()
    {
        var clip = TokenizerGoldens.Clip.Tokenize(TokenizerGoldens.Prompt("clip_exact_77"));

        Assert.Equal(77, clip.TokenCount);
        Assert.False(clip.IsTruncated);
        Assert.Equal(0, clip.IgnoredTokenCount);
    }

    [Fact]
    public void T5_rejects_a_length_without_room_for_the_end_token()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenizerGoldens.T5.Encode("a cat", 0));
        Assert.Equal([1L], TokenizerGoldens.T5.Encode("a cat", 1));
    }
}
