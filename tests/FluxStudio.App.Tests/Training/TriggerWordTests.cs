using FluxStudio.App.Training;

namespace FluxStudio.App.Tests.Training;

/// <summary>The activation keyword a trained LoRA gets in the catalog, taken from the words its captions share.</summary>
public sealed class TriggerWordTests
{
    [Fact]
    public void The_made_up_token_every_caption_shares_is_the_keyword()
    {
        Assert.Equal("sks", TriggerWord.FromCaptions(["photo of sks dog", "sks dog in the snow", "a portrait of my sks dog, smiling"]));
    }

    [Fact]
    public void Of_several_shared_words_the_first_in_the_first_caption_wins()
    {
        Assert.Equal("zwx", TriggerWord.FromCaptions(["zwx toy robot on a desk", "a toy robot zwx in the grass"]));
    }

    [Fact]
    public void Common_words_are_skipped_whatever_their_case()
    {
        Assert.Equal("ohwx", TriggerWord.FromCaptions(["A Photo of THE ohwx cat", "a photo of the OHWX cat"]));
    }

    [Fact]
    public void Punctuation_does_not_hide_a_shared_word_and_the_first_captions_spelling_is_kept()
    {
        Assert.Equal("Été_42", TriggerWord.FromCaptions(["Été_42, at dawn.", "(été_42) on a beach"]));
    }

    [Fact]
    public void Captions_sharing_no_uncommon_word_give_no_keyword()
    {
        Assert.Equal("", TriggerWord.FromCaptions([]));
        Assert.Equal("", TriggerWord.FromCaptions(["a photo of a dog", "a photo of a cat"]));
        Assert.Equal("", TriggerWord.FromCaptions(["", "sks dog"]));
    }

    [Fact]
    public void A_single_caption_gives_its_first_uncommon_word()
    {
        Assert.Equal("sks", TriggerWord.FromCaptions(["a photo of sks"]));
    }
}
