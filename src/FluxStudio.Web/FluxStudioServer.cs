using System.Runtime.CompilerServices;
using FluxStudio.App;
using FluxStudio.App.Data;
using FluxStudio.Engine.Memory;
using FluxStudio.Web.Api;
using FluxStudio.Web.Security;
using FluxStudio.Web.Services;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;
using MudBlazor.Services;

namespace FluxStudio.Web;

/// <summary>Builds and runs the web host; shared by the web project's own entry point and `fluxstudio serve`.</summary>
public static class FluxStudioServer
{
    public const string DefaultUrl = "http://127.0.0.1:7860";

    private const string HostLogCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    /// <summary>
    /// Builds the server, checks its database, and serves until <paramref name="ct"/> or Ctrl+C stops it. What keeps it
    /// from starting (no access token for a network address, a damaged database, a port in use) is one sentence on
    /// standard error and exit code 1, never a stack trace.
    /// </summary>
    public static async Task<int> RunAsync(string[] args, CancellationToken ct = default)
    {
        WebApplication app;
        try
        {
            app = Build(args);
        }
        catch (ServerSetupException ex)
        {
            await Console.Error.WriteLineAsync(ex.Message);
            return 1;
        }
        var configuration = app.Configuration;
        await using (app)
        {
            try
            {
                // Before the host starts, so nothing has written to a damaged file when it is reported.
                await app.Services.GetRequiredService<StudioDatabase>().CheckAsync(ct);
                await HostingAbstractionsHostExtensions.RunAsync(app, ct);
            }
            catch (StudioDatabaseException ex)
            {
                await Console.Error.WriteLineAsync(ex.Message);
                return 1;
            }
            catch (IOException ex) when (ex.InnerException is AddressInUseException)
            {
                await Console.Error.WriteLineAsync(AddressInUse(configuration));
                return 1;
            }
        }
        return 0;
    }

    private static string AddressInUse(IConfiguration configuration)
    {
        var urls = ListenScope.ConfiguredUrls(configuration);
        var ports = urls.Select(url => Uri.TryCreate(url.Replace("*", "localhost").Replace("+", "localhost"), UriKind.Absolute, out var uri) ? uri.Port : -1)
            .Where(port => port > 0).Distinct().ToList();
        var which = ports.Count == 1 ? $"Port {ports[0]}" : "A port FluxStudio is set to listen on";
        var free = ports.Count == 1 ? ports[0] + 1 : 7861;
        return $"{which} is already in use ({string.Join(", ", urls)}), by another FluxStudio or another program; stop that " +
               $"program, or choose a free port with the Urls setting (--urls http://127.0.0.1:{free}, or Urls in appsettings.json).";
    }

    /// <param name="args">The command line: settings (<c>--urls</c>, <c>--FluxStudio:DataRoot=…</c>).</param>
    /// <param name="replaceServices">Changes to the registrations after the studio's own (tests swap the image generator).</param>
    public static WebApplication Build(string[] args, Action<IServiceCollection>? replaceServices = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = StudioHosting.ContentRoot,
            // The web project's name, also when `fluxstudio serve` hosts it: static assets and components are found by it.
            ApplicationName = typeof(FluxStudioServer).Assembly.GetName().Name,
        });
        // Outside Development, ASP.NET Core only serves published static files. Running from build output (`fluxstudio
        // serve`, tests) needs the build's static web assets manifest; a published app has none and is unaffected.
        builder.WebHost.UseStaticWebAssets();
        if (string.IsNullOrEmpty(builder.Configuration["Urls"]))
            builder.WebHost.UseUrls(DefaultUrl);

        // RunAsync reports a failed start in one sentence; the host's own report of it would add a stack trace. Once the
        // host has started, its errors (a background service that fails) are logged as usual.
        var started = new StrongBox<bool>();
        builder.Logging.AddFilter(HostLogCategory, level => level >= LogLevel.Information && (level < LogLevel.Error || started.Value));

        AddStudio(builder.Services, builder.Configuration);
        replaceServices?.Invoke(builder.Services);

        var app = builder.Build();
        UseStudio(app);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            started.Value = true;
            AnnounceAddresses(app);
        });
        return app;
    }

    private static void AddStudio(IServiceCollection services, IConfiguration configuration)
    {
        services.AddRazorComponents().AddInteractiveServerComponents();
        services.AddProblemDetails(options => options.CustomizeProblemDetails = TooLargeProblem.Describe);
        services.AddExceptionHandler<BadRequestExceptionHandler>();
        // Outside Development a body that cannot be read would get a bare 400; thrown, it becomes problem details.
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        services.AddOpenApi();

        services.AddFluxStudio(configuration);

        services.AddOptions<WebOptions>().Bind(configuration.GetSection(WebOptions.SectionName))
            .Validate(o => o.MaxUploadBytes > 0, $"{WebOptions.SectionName}:{nameof(WebOptions.MaxUploadBytes)} must be greater than 0.");
        // One upload limit: the server's request limit and the form reader's follow it, so no smaller limit hides it.
        services.AddOptions<KestrelServerOptions>().Configure<IOptions<WebOptions>>((kestrel, web) =>
            kestrel.Limits.MaxRequestBodySize = ImageUpload.RequestBodyLimit(web.Value.MaxUploadBytes));
        services.AddOptions<FormOptions>().Configure<IOptions<WebOptions>>((form, web) =>
            form.MultipartBodyLengthLimit = ImageUpload.RequestBodyLimit(web.Value.MaxUploadBytes));
        // Read from the final configuration, so a URL given on the command line or by a test counts.
        services.AddSingleton(sp => ListenScope.FromConfiguration(sp.GetRequiredService<IConfiguration>()));
        // The host's own filter (first in the pipeline) with the names the scope allows, instead of AllowedHosts alone.
        services.AddOptions<HostFilteringOptions>().Configure<ListenScope>((filter, scope) => filter.AllowedHosts = scope.AllowedHosts.ToList());
        services.AddSingleton<ModelPathPolicy>();
        services.AddSingleton<GenerationSubmitter>();
        services.AddSingleton<InputPictures>();
        services.AddSingleton<IMemoryRemedyWording, WebMemoryRemedyWording>();
        services.AddScoped<GenerationWatch>();
        services.AddScoped<JobBoard>();
        services.AddScoped<BrowserStorage>();
        services.AddMudServices();
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
                throw new ServerSetupException(
                    "FluxStudio is set to listen on an address reachable from other machines " +
                    $"({string.Join(", ", ListenScope.ConfiguredUrls(app.Configuration))}, from Urls or Kestrel:Endpoints). " +
                    $"Set an access token ({WebOptions.SectionName}:AccessToken, e.g. the environment variable " +
                    "FluxStudio__Web__AccessToken) or listen on 127.0.0.1.");
            app.UseMiddleware<AccessTokenMiddleware>(token);
        }

        app.UseWhen(context => context.Request.Path.StartsWithSegments("/api"), api =>
        {
            api.UseExceptionHandler();
            api.UseStatusCodePages();
            api.UseMiddleware<CrossSiteRequestFilter>();
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
        api.MapTrainingApi();

        app.MapRazorComponents<Components.App>().AddInteractiveServerRenderMode();
    }

    private static void AnnounceAddresses(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        foreach (var address in addresses ?? [])
            Console.WriteLine($"FluxStudio is running at {address}  (Ctrl+C stops it)");
    }
}
