using System.Text.Json;
using FluxStudio.Web.Services;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;

namespace FluxStudio.Web.Api;

/// <summary>
/// The body of <c>POST /api/generations</c>: a <see cref="GenerationApiRequest"/> as JSON, or, to send pictures with it,
/// multipart/form-data with that JSON in the part <see cref="RequestField"/> and the pictures in the file parts
/// <see cref="ControlNetImageField"/> (the ControlNet's reference) and <see cref="InitImageField"/> (image to image). Each
/// picture is checked by its content and size, and kept under a name the server makes (<see cref="InputPictures"/>).
/// </summary>
public sealed record GenerationApiBody(GenerationApiRequest Request, string? ControlNetImagePath, string? InitImagePath)
{
    public const string RequestField = "request";
    public const string ControlNetImageField = "controlNetImage";
    public const string InitImageField = "image";

    private const int PictureFields = 2;

    /// <summary>The body, or field errors (a picture that is not one, a missing request part), or a problem to answer with.</summary>
    /// <exception cref="BadHttpRequestException">The JSON cannot be read (answered as a validation problem naming the field).</exception>
    public static async Task<(GenerationApiBody? Body, Dictionary<string, string> Errors, ProblemHttpResult? Problem)> ReadAsync(
        HttpRequest http, InputPictures pictures, long maxUploadBytes, JsonSerializerOptions json, CancellationToken ct)
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        if (http.HasJsonContentType())
            return (new GenerationApiBody(await ReadJsonAsync(http.Body, json, ct), null, null), errors, null);
        if (!MediaTypeHeaderValue.TryParse(http.ContentType, out var type) ||
            !string.Equals(type.MediaType.Value, "multipart/form-data", StringComparison.OrdinalIgnoreCase))
            return (null, errors, TypedResults.Problem(
                $"Send the request as application/json, or as multipart/form-data with the JSON in the part '{RequestField}' and the pictures " +
                $"in '{ControlNetImageField}' and '{InitImageField}' (for example: curl -F '{RequestField}={{\"prompt\":\"a cat\"}};type=application/json' " +
                $"-F {InitImageField}=@photo.png URL).",
                title: "The request was not accepted", statusCode: StatusCodes.Status415UnsupportedMediaType));

        // One picture of each kind may come, each up to the upload limit.
        var bodyLimit = ImageUpload.RequestBodyLimit(PictureFields * maxUploadBytes);
        if (http.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = bodyLimit;
        IFormCollection form;
        try
        {
            form = await http.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = bodyLimit }, ct);
        }
        catch (Exception ex) when (ex is InvalidDataException or BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
        {
            return (null, errors, TypedResults.Problem(ImageUpload.TooLarge(maxUploadBytes), title: "The request is too large",
                statusCode: StatusCodes.Status413PayloadTooLarge));
        }

        GenerationApiRequest? request = null;
        if (form[RequestField] is { Count: 1 } text)
            request = await ReadJsonAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(text.ToString())), json, ct);
        else if (form.Files.GetFile(RequestField) is { } part)
            request = await ReadJsonAsync(part.OpenReadStream(), json, ct);
        else
            errors[RequestField] = $"Put the generation settings, as JSON, in the form part '{RequestField}'.";

        var controlNetImage = await KeepAsync(form, ControlNetImageField, pictures, ct);
        var initImage = await KeepAsync(form, InitImageField, pictures, ct);
        if (new[] { controlNetImage, initImage }.FirstOrDefault(upload => upload is { TooLarge: true }) is { } tooLarge)
            return (null, errors, TypedResults.Problem(tooLarge.Error, title: "The request is too large", statusCode: StatusCodes.Status413PayloadTooLarge));
        foreach (var (field, upload) in new[] { (ControlNetImageField, controlNetImage), (InitImageField, initImage) })
        {
            if (upload?.Error is { } error)
                errors[field] = error;
        }
        return (request is null ? null : new GenerationApiBody(request, controlNetImage?.Image?.Path, initImage?.Image?.Path), errors, null);
    }

    private static async Task<PictureUpload?> KeepAsync(IFormCollection form, string field, InputPictures pictures, CancellationToken ct)
    {
        if (form.Files.GetFile(field) is not { } file)
            return null;
        await using var content = file.OpenReadStream();
        return await pictures.UploadAsync(content, ct);
    }

    private static async Task<GenerationApiRequest> ReadJsonAsync(Stream content, JsonSerializerOptions json, CancellationToken ct)
    {
        try
        {
            return await JsonSerializer.DeserializeAsync<GenerationApiRequest>(content, json, ct)
                   ?? throw new JsonException("The settings are null; send a JSON object.", "$", null, null);
        }
        catch (JsonException e)
        {
            throw new BadHttpRequestException("The generation settings are not valid JSON.", StatusCodes.Status400BadRequest, e);
        }
    }

    /// <summary>
    /// The OpenAPI description of the body, both ways. The endpoint reads the body itself rather than declaring the content
    /// types it accepts, because routing would refuse any other type with a bare 415 that does not say what to send.
    /// </summary>
    public static async Task DescribeBody(OpenApiOperation operation, Microsoft.AspNetCore.OpenApi.OpenApiOperationTransformerContext context,
        CancellationToken ct)
    {
        var settings = await context.GetOrCreateSchemaAsync(typeof(GenerationApiRequest), null, ct);
        operation.RequestBody = new OpenApiRequestBody
        {
            Required = true,
            Content = new Dictionary<string, OpenApiMediaType>
            {
                ["application/json"] = new() { Schema = settings },
                ["multipart/form-data"] = new()
                {
                    Schema = new OpenApiSchema
                    {
                        Type = JsonSchemaType.Object,
                        Required = new HashSet<string> { RequestField },
                        Properties = new Dictionary<string, IOpenApiSchema>
                        {
                            [RequestField] = settings,
                            [ControlNetImageField] = Picture("A PNG, JPEG or WebP picture whose Canny edges guide the image through the ControlNet."),
                            [InitImageField] = Picture("A PNG, JPEG or WebP picture to start from (image to image; imageStrength says how much is kept)."),
                        },
                    },
                    Encoding = new Dictionary<string, OpenApiEncoding> { [RequestField] = new() { ContentType = "application/json" } },
                },
            },
        };
    }

    private static OpenApiSchema Picture(string description) =>
        new() { Type = JsonSchemaType.String, Format = "binary", Description = description };
}
