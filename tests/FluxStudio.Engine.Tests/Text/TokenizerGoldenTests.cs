using FluxStudio.Engine.Text;

namespace FluxStudio.Engine.Tests.Text;

public class TokenizerGoldenTests
{
    [Fact]
    public void The_golden_set_has_all_41_cases()
    {
        Assert.Equal(41, TokenizerGoldens.CaseNames().Count);
    }

    [Theory]
    [MemberData(nameof(TokenizerGoldens.CaseNames), MemberType = typeof(TokenizerGoldens))]
    public void Clip_ids_match_the_reference_with_ftfy(string name)
    {
        var ids = TokenizerGoldens.Clip.Encode(TokenizerGoldens.Prompt(name));

        Assert.Equal(TokenizerGoldens.Ids(name, "clip_ids"), ids);
    }

    [Theory]
    [MemberData(nameof(TokenizerGoldens.CaseNames), MemberType = typeof(TokenizerGoldens))]
    public void Clip_tokens_and_untruncated_count_match_the_reference(string name)
    {
        var prompt = TokenizerGoldens.Prompt(name);

        var tokenized = TokenizerGoldens.Clip.Tokenize(prompt);

        Assert.Equal(TokenizerGoldens.Strings(name, "clip_bpe_tokens"), TokenizerGoldens.Clip.TokenStrings(prompt));
        Assert.Equal(TokenizerGoldens.Int(name, "clip_n_tokens_untruncated"), tokenized.TokenCount);
        Assert.Equal(Math.Max(0, tokenized.TokenCount - ClipTokenizer.MaxLength), tokenized.IgnoredTokenCount);
    }

    [Theory]
    [MemberData(nameof(TokenizerGoldens.CaseNames), MemberType = typeof(TokenizerGoldens))]
    public void T5_ids_for_schnell_match_the_reference(string name)
    {
        var ids = TokenizerGoldens.T5.Encode(TokenizerGoldens.Prompt(name), T5Tokenizer.SchnellMaxLength);

        Assert.Equal(TokenizerGoldens.Ids(name, "t5_ids_256"), ids);
    }

    [Theory]
    [MemberData(nameof(TokenizerGoldens.CaseNames), MemberType = typeof(TokenizerGoldens))]
    public void T5_ids_for_dev_match_the_reference(string name)
    {
        var ids = TokenizerGoldens.T5.Encode(TokenizerGoldens.Prompt(name), T5Tokenizer.DevMaxLength);

        Assert.Equal(TokenizerGoldens.Ids(name, "t5_ids_512"), ids);
    }

    [Theory]
    [MemberData(nameof(TokenizerGoldens.CaseNames), MemberType = typeof(TokenizerGoldens))]
    public void T5_untruncated_count_matches_the_reference(string name)
    {
        var tokenized = TokenizerGoldens.T5.Tokenize(TokenizerGoldens.Prompt(name), T5Tokenizer.DevMaxLength);

        Assert.Equal(TokenizerGoldens.Int(name, "t5_n_tokens_untruncated"), tokenized.TokenCount);
    }
}
