namespace FluxStudio.App.Enhancement;

/// <summary>
/// A read-only view of a response body whose asynchronous reads also stop when a fixed token fires. Chat clients
/// read streamed bodies without a token, so without this a stalled server would block them for ever.
/// </summary>
internal sealed class TokenBoundReadStream(Stream inner, CancellationToken bound) : Stream
{
    /// <summary>Replaces <paramref name="response"/>'s body with one whose reads stop when <paramref name="bound"/> fires.</summary>
    public static async Task BindAsync(HttpResponseMessage response, CancellationToken bound)
    {
        var original = response.Content;
        var body = await original.ReadAsStreamAsync(bound).ConfigureAwait(false);
        var replacement = new StreamContent(new TokenBoundReadStream(body, bound));
        foreach (var header in original.Headers)
            replacement.Headers.TryAddWithoutValidation(header.Key, header.Value);
        response.Content = replacement;
    }

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!cancellationToken.CanBeCanceled)
            return await inner.ReadAsync(buffer, bound).ConfigureAwait(false);
        using var both = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, bound);
        return await inner.ReadAsync(buffer, both.Token).ConfigureAwait(false);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            inner.Dispose();
        base.Dispose(disposing);
    }
}
