namespace FluxStudio.App.Generation;

/// <summary>
/// The outcome of validating a request: one message per field, keyed by the request's property name
/// (<c>Width</c>, <c>Loras[1].Scale</c>) so a form can show each message next to its field.
/// </summary>
public sealed class RequestValidationResult
{
    private readonly Dictionary<string, string> _errors = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, string> Errors => _errors;

    public bool IsValid => _errors.Count == 0;

    internal void Add(string field, string message) => _errors.TryAdd(field, message);

    /// <summary>All messages as lines of <c>Field: message</c>, for the CLI and logs.</summary>
    public override string ToString() => string.Join(Environment.NewLine, _errors.Select(e => $"{e.Key}: {e.Value}"));
}

/// <summary>Thrown when a request that failed validation is handed to a service.</summary>
public sealed class RequestValidationException(RequestValidationResult result)
    : Exception("The generation settings are not valid:" + Environment.NewLine + result)
{
    public IReadOnlyDictionary<string, string> Errors => result.Errors;
}
