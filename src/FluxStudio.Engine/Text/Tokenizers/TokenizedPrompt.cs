namespace FluxStudio.Engine.Text;

/// <summary>A prompt as a text encoder takes it: exactly <see cref="Ids"/>.Length ids, truncated and padded.</summary>
/// <param name="Ids">The ids fed to the encoder, special tokens and padding included.</param>
/// <param name="TokenCount">How many ids the whole prompt needs, special tokens included, before truncation.</param>
public sealed record TokenizedPrompt(long[] Ids, int TokenCount)
{
    public int MaxLength => Ids.Length;

    /// <summary>How many of the prompt's tokens did not fit and are ignored by the encoder.</summary>
    public int IgnoredTokenCount => Math.Max(0, TokenCount - Ids.Length);

    public bool IsTruncated => IgnoredTokenCount > 0;
}
