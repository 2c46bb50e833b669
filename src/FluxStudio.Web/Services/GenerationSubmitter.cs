using FluxStudio.App.Generation;
using FluxStudio.Web.Security;

namespace FluxStudio.Web.Services;

/// <summary>
/// The one way the UI and the REST API queue a generation: the model-path policy, the rule that pictures come only by
/// upload (<see cref="InputPictures.Check"/>), then the shared <see cref="GenerationRequestValidator"/>, then the queue.
/// Errors are keyed by the request's property names.
/// </summary>
public sealed class GenerationSubmitter(GenerationQueue queue, GenerationRequestValidator validator, ModelPathPolicy pathPolicy,
    InputPictures pictures)
{
    public async Task<SubmitResult> SubmitAsync(GenerationRequest request, IReadOnlyDictionary<string, string>? earlierErrors,
        CancellationToken ct)
    {
        var errors = Check(request, earlierErrors);
        if (errors.Count > 0)
            return new SubmitResult(null, errors, null);
        try
        {
            return new SubmitResult(await queue.EnqueueAsync(request, ct), errors, null);
        }
        catch (RequestValidationException ex)
        {
            return new SubmitResult(null, new Dictionary<string, string>(ex.Errors), null);
        }
        catch (QueueFullException ex)
        {
            return new SubmitResult(null, errors, ex.Message);
        }
    }

    /// <summary>Field → message for everything wrong with the request; empty when it may be queued.</summary>
    public Dictionary<string, string> Check(GenerationRequest request, IReadOnlyDictionary<string, string>? earlierErrors = null)
    {
        var errors = new Dictionary<string, string>(earlierErrors ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        if (pathPolicy.Check(request.ModelPath) is { } pathError)
            errors.TryAdd(nameof(GenerationRequest.ModelPath), pathError);
        foreach (var (field, message) in pictures.Check(request))
            errors.TryAdd(field, message);
        foreach (var (field, message) in validator.Validate(request).Errors)
            errors.TryAdd(field, message);
        return errors;
    }
}

/// <summary>The queued job, or the field errors, or a reason the queue refused (it is full).</summary>
public sealed record SubmitResult(GenerationJob? Job, IReadOnlyDictionary<string, string> Errors, string? Refusal);
