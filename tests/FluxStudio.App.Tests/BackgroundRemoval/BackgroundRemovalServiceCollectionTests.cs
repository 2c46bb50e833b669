using FluxStudio.App.BackgroundRemoval;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace FluxStudio.App.Tests.BackgroundRemoval;

public sealed class BackgroundRemovalServiceCollectionTests
{
    private static ServiceProvider Build(Action<BackgroundRemovalOptions>? configure)
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance);
        services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        services.AddBackgroundRemoval(configure);
        return services.BuildServiceProvider();
    }

    [Fact]
    public void OneRemoverServesTheInterfaceAndTheClass()
    {
        using var provider = Build(options => options.ModelPath = "/models/rmbg.onnx");

        var remover = provider.GetRequiredService<BackgroundRemover>();

        Assert.Same(remover, provider.GetRequiredService<IBackgroundRemover>());
        Assert.Same(remover, provider.GetRequiredService<BackgroundRemover>());
        Assert.Equal("/models/rmbg.onnx", provider.GetRequiredService<IOptions<BackgroundRemovalOptions>>().Value.ModelPath);
    }

    [Fact]
    public void ImpossibleSettingsAreRejectedWithTheirName()
    {
        using var provider = Build(options => options.MaxMegapixels = 0);

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<BackgroundRemover>());

        Assert.Contains("MaxMegapixels", error.Message);
    }
}
