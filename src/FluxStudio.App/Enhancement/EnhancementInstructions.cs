using Microsoft.Extensions.AI;

namespace FluxStudio.App.Enhancement;

/// <summary>The conversation sent to the model for each mode.</summary>
public static class EnhancementInstructions
{
    public const string TextModeInstructions = """
        You write prompts for FLUX.1, a text-to-image diffusion model. The user gives a short idea, possibly in
        another language. Turn it into one detailed English prompt that FLUX.1 can render well:
        - keep everything the user asked for, and nothing that contradicts it;
        - name the subject precisely, then the setting, the composition and the camera or viewpoint;
        - describe the lighting, the colour palette, the mood and the artistic or photographic style;
        - add concrete details of materials, textures and small objects that make the scene believable.
        Write flowing descriptive sentences, not a list of tags, with no negative prompt and no comments about
        your work. Answer with the prompt only, in English.
        """;

    public const string VisionModeInstructions = """
        You write prompts for FLUX.1, a text-to-image diffusion model. Look at the attached image and write one
        detailed English prompt that would make FLUX.1 produce a similar image:
        - the style, said explicitly: photograph, 3D render, oil painting, watercolour, comic, manga, pencil
          drawing, pixel art, and so on, with the techniques that give it away;
        - the colours: the dominant palette, contrasts, saturation and the colour of the light;
        - the composition: framing, viewpoint, focal length or perspective, what is in the foreground and in
          the background, and where the eye is led;
        - the subject and every notable detail: people, clothing, objects, materials, textures, text in the
          image, the setting, the time of day, the lighting and the mood.
        Write flowing descriptive sentences, not a list of tags. Answer with the prompt only, in English.
        """;

    /// <summary>Text mode: the instructions as the system message and the idea as the user's message.</summary>
    public static IReadOnlyList<ChatMessage> ForText(string idea) =>
    [
        new ChatMessage(ChatRole.System, TextModeInstructions),
        new ChatMessage(ChatRole.User, $"Idea: {idea.Trim()}"),
    ];

    /// <summary>
    /// Vision mode: a single user message holding the instructions and the image. Some vision models (Llama 3.2
    /// Vision among them) refuse a system message next to an image, so everything goes in one message.
    /// </summary>
    public static IReadOnlyList<ChatMessage> ForImage(EnhanceImage image, string? wishes)
    {
        var text = string.IsNullOrWhiteSpace(wishes)
            ? VisionModeInstructions
            : $"{VisionModeInstructions}\n\nThe user adds these wishes, to follow where they differ from the image: {wishes.Trim()}";
        return [new ChatMessage(ChatRole.User, [new TextContent(text), new DataContent(image.Data, image.MediaType)])];
    }
}
