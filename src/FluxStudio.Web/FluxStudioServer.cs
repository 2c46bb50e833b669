using FluxStudio.App;
using FluxStudio.App.Background;
using FluxStudio.App.Enhancement;
using FluxStudio.Engine.Memory;
using FluxStudio.Web.Api;
using FluxStudio.Web.Security;
using FluxStudio.Web.Services;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace FluxStudio.Web;

/// <summary>Builds the web host; shared by the web project's own entry point and `fluxstudio serve`.</summary>
public static class FluxStudioServer
{
    public const string DefaultUrl = "http://127.0.0.1:7860";

    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
            // The web project's name, also when `fluxstudio serve` hosts it: static assets and components are found by it.
            ApplicationName = typeof(FluxStudioServer).Assembly.GetName().Name,
        });
        // Outside Development, ASP.NET Core only serves published static files. Running from build output (`fluxstudio
        // serve`, tests) needs the build's static web assets manifest; a published app has none and is unaffected.
        builder.WebHost.UseStaticWebAssets();
        if (string.IsNullOrEmpty(builder.Configuration["Urls"]))
            builder.WebHost.UseUrls(DefaultUrl);

        AddStudio(builder.Services, builder.Configuration);

        var app = builder.Build();
        UseStudio(app);
        app.Lifetime.ApplicationStarted.Register(() => AnnounceAddresses(app));
        return app;
    }

    private static void AddStudio(IServiceCollection services, IConfiguration configuration)
    {
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddProblemDetails();
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        services.AddOpenApi();

        services.AddFluxStudioCore(configuration);
        services.AddFluxStudioEngine(configuration);
        services.AddPromptEnhancer(options => configuration.GetSection(EnhancerOptions.SectionName).Bind(options));
        services.AddBackgroundRemoval(options => configuration.GetSection(BackgroundRemovalOptions.SectionName).Bind(options));

        services.AddOptions<WebOptions>().Bind(configuration.GetSection(WebOptions.SectionName));
        // Read from the final configuration, so a URL given on the command line or by a test counts.
        services.AddSingleton(sp => ListenScope.FromConfiguration(sp.GetRequiredService<IConfiguration>()));
        services.AddSingleton<ModelPathPolicy>();
        services.AddSingleton<GenerationSubmitter>();
        services.AddSingleton<IMemoryRemedyWording, WebMemoryRemedyWording>();
        services.AddSingleton<GenerationProgressTracker>();
        services.AddHostedService(sp => sp.GetRequiredService<GenerationProgressTracker>());
    }

    private static void UseStudio(WebApplication app)
    {
        var scope = app.Services.GetRequiredService<ListenScope>();
        if (!scope.LoopbackOnly)
        {
            var token = app.Services.GetRequiredService<IOptions<WebOptions>>().Value.AccessToken;
            if (string.IsNullOrWhiteSpace(token))
                throw new InvalidOperationException(
                    "FluxStudio is set to listen on an address reachable from other machines " +
                    $"(Urls '{app.Configuration["Urls"]}' or Kestrel:Endpoints). " +
                    $"Set an access token ({WebOptions.SectionName}:AccessToken, e.g. the environment variable " +
                    "FluxStudio__Web__AccessToken) or listen on 127.0.0.1.");
            app.UseMiddleware<AccessTokenMiddleware>(token);
        }

        app.UseWhen(context => context.Request.Path.StartsWithSegments("/api"), api =>
        {
            api.UseExceptionHandler();
            api.UseStatusCodePages();
        });
        app.UseWhen(context => !context.Request.Path.StartsWithSegments("/api"), pages =>
        {
            if (!app.Environment.IsDevelopment())
                pages.UseExceptionHandler("/Error", createScopeForErrors: true);
            pages.UseStatusCodePagesWithReExecute("/not-found", createScopeForStatusCodePages: true);
        });
        app.UseAntiforgery();
        app.MapStaticAssets();
        app.MapOpenApi();

        var api = app.MapGroup("/api");
        api.MapGenerationApi();
        api.MapLibraryApi();
        api.MapToolApi();

        app.MapRazorComponents<Components.App>().AddInteractiveServerRenderMode();
    }

    private static void AnnounceAddresses(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        foreach (var address in addresses ?? [])
            Console.WriteLine($"FluxStudio is running at {address}  (Ctrl+C stops it)");
    }
}
