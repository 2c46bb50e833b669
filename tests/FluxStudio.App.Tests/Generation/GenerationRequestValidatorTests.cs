using FluxStudio.App.Generation;
using FluxStudio.App.Loras;
using FluxStudio.App.Tests.Support;

namespace FluxStudio.App.Tests.Generation;

public sealed class GenerationRequestValidatorTests : IDisposable
{
    private readonly StudioSandbox _sandbox = new();

    public void Dispose() => _sandbox.Dispose();

    private RequestValidationResult Validate(GenerationRequest request, GenerationRequestValidatorOptions? options = null) =>
        new GenerationRequestValidator(options ?? new GenerationRequestValidatorOptions(), _sandbox.Loras).Validate(request);

    [Fact]
    public void Defaults_and_tiny_test_sizes_are_valid()
    {
        Assert.True(Validate(new GenerationRequest { Prompt = "a fox" }).IsValid);
        Assert.True(Validate(TestRequests.Small()).IsValid);
        Assert.True(Validate(new GenerationRequest { Prompt = "a fox", Width = 4096, Height = 16 }).IsValid);
    }

    [Fact]
    public void Progress_expects_the_named_models_default_steps_until_the_engine_reports()
    {
        var schnell = new GenerationRequest { Prompt = "x" };
        var dev = schnell with { Model = Engine.Models.FluxVariant.Dev };

        Assert.Equal((4, 20, 7), (schnell.ExpectedSteps, dev.ExpectedSteps, (dev with { Steps = 7 }).ExpectedSteps));
        Assert.Equal((1024, 1024), (schnell.Width, schnell.Height));
    }

    [Theory]
    [InlineData("Prompt", "Enter a prompt")]
    [InlineData("Width", "Width must be a multiple of 16; 1000 is not. Try 992 or 1008.")]
    [InlineData("Height", "Height 5000 is larger than the maximum of 4096 pixels.")]
    [InlineData("Steps", "Steps must be between 1 and 200")]
    [InlineData("Quantize", "choose 4, 8, or none")]
    [InlineData("Seed", "0 (random) or a positive whole number")]
    [InlineData("Guidance", "Guidance must be between 0 and 100")]
    [InlineData("ModelPath", "does not exist")]
    [InlineData("ControlNetImagePath", "does not exist")]
    [InlineData("ControlNetStrength", "between 0 and 1")]
    [InlineData("ControlNetEncoding", "\"mflux\"")]
    [InlineData("InitImagePath", "does not exist")]
    [InlineData("ImageStrength", "between 0 and 1")]
    [InlineData("BatchCount", "between 1 and 32")]
    [InlineData("Seeds", "positive whole number")]
    public void Each_bad_field_gets_a_message_under_its_own_name(string field, string message)
    {
        var request = field switch
        {
            "Prompt" => TestRequests.Small("   "),
            "Width" => TestRequests.Small() with { Width = 1000 },
            "Height" => TestRequests.Small() with { Height = 5000 },
            "Steps" => TestRequests.Small() with { Steps = 0 },
            "Quantize" => TestRequests.Small() with { Quantize = 6 },
            "Seed" => TestRequests.Small() with { Seed = -1 },
            "Guidance" => TestRequests.Small() with { Guidance = 1000 },
            "ModelPath" => TestRequests.Small() with { ModelPath = Path.Combine(_sandbox.Root, "no-model") },
            "ControlNetImagePath" => TestRequests.Small() with { ControlNetImagePath = Path.Combine(_sandbox.Root, "no.png") },
            "ControlNetStrength" => TestRequests.Small() with { ControlNetImagePath = CreateFile("edges.png"), ControlNetStrength = 1.5 },
            "ControlNetEncoding" => TestRequests.Small() with
            {
                ControlNetImagePath = CreateFile("edges.png"), ControlNetEncoding = (Engine.ControlNet.ControlNetEncoding)7,
            },
            "InitImagePath" => TestRequests.Small() with { InitImagePath = Path.Combine(_sandbox.Root, "no.png") },
            "ImageStrength" => TestRequests.Small() with { InitImagePath = CreateFile("start.png"), ImageStrength = -0.1 },
            "BatchCount" => TestRequests.Small() with { BatchCount = 33 },
            "Seeds" => TestRequests.Small() with { Seeds = [4, -2] },
            _ => throw new ArgumentOutOfRangeException(nameof(field)),
        };

        var result = Validate(request);

        Assert.False(result.IsValid);
        Assert.Equal([field], result.Errors.Keys);
        Assert.Contains(message, result.Errors[field]);
    }

    [Fact]
    public void Pictures_are_checked_even_where_other_files_are_not()
    {
        var options = new GenerationRequestValidatorOptions { CheckFiles = false };
        var missing = Path.Combine(_sandbox.Root, "gone.png");

        Assert.Contains("does not exist", Validate(TestRequests.Small() with { ControlNetImagePath = missing }, options).Errors["ControlNetImagePath"]);
        Assert.Contains("does not exist", Validate(TestRequests.Small() with { InitImagePath = missing }, options).Errors["InitImagePath"]);
    }

    [Fact]
    public void A_batch_is_a_count_or_a_list_of_seeds_and_not_both()
    {
        Assert.True(Validate(TestRequests.Small() with { BatchCount = 3 }).IsValid);
        Assert.True(Validate(TestRequests.Small() with { Seeds = [1, 2, 3], BatchCount = 3 }).IsValid);
        Assert.Contains("either a batch count or a list of seeds",
            Validate(TestRequests.Small() with { Seeds = [1, 2, 3], BatchCount = 2 }).Errors["BatchCount"]);
        Assert.Contains("at most 32", Validate(TestRequests.Small() with { Seeds = [.. Enumerable.Range(1, 33).Select(i => (long)i)] }).Errors["Seeds"]);
        Assert.True(Validate(TestRequests.Small() with { BatchCount = 100 }, new GenerationRequestValidatorOptions { MaxBatchCount = 100 }).IsValid);
    }

    [Fact]
    public void A_batch_lists_its_seeds_and_what_is_left_after_some_images()
    {
        var counted = TestRequests.Small() with { Seed = 10, BatchCount = 3 };
        var random = TestRequests.Small() with { Seed = 0, BatchCount = 3 };
        var listed = TestRequests.Small() with { Seeds = [7, 3, 9] };

        Assert.Equal([10L, 11, 12], counted.BatchSeeds());
        Assert.Equal([0L, 0, 0], random.BatchSeeds());
        Assert.Equal([7L, 3, 9], listed.BatchSeeds());
        Assert.Equal([12L], counted.Remaining(2).BatchSeeds());
        Assert.Equal((1, 12L), (counted.Remaining(2).ImageCount, counted.Remaining(2).Seed));
        Assert.Equal([3L, 9], listed.Remaining(1).BatchSeeds());
        Assert.Equal(2, random.Remaining(1).ImageCount);
        Assert.Same(listed, listed.Remaining(0));
    }

    [Fact]
    public void LoRA_paths_are_accepted_only_where_allowed()
    {
        var file = CreateFile("style.safetensors");
        var request = TestRequests.Small() with { Loras = [new LoraSelection(file, 0.5)] };

        Assert.Contains("not a file name", Validate(request).Errors["Loras[0].Name"]);
        Assert.True(Validate(request, new GenerationRequestValidatorOptions { AllowLoraPaths = true }).IsValid);
        Assert.Contains("does not exist", Validate(request with { Loras = [new LoraSelection(file + ".gone")] },
            new GenerationRequestValidatorOptions { AllowLoraPaths = true }).Errors["Loras[0].Name"]);
    }

    [Fact]
    public void LoRA_selections_are_checked_by_index()
    {
        Directory.CreateDirectory(_sandbox.LoraFolder);
        File.WriteAllBytes(Path.Combine(_sandbox.LoraFolder, "here.safetensors"), [0]);
        var request = TestRequests.Small() with
        {
            Loras =
            [
                new LoraSelection("here.safetensors", 0.8),
                new LoraSelection("../escape.safetensors"),
                new LoraSelection("missing.safetensors"),
                new LoraSelection("here.safetensors"),
                new LoraSelection("here2.safetensors", double.NaN),
            ],
        };

        var errors = Validate(request).Errors;

        Assert.DoesNotContain("Loras[0].Name", errors.Keys);
        Assert.Contains("not a file name", errors["Loras[1].Name"]);
        Assert.Contains("not in the LoRA folder", errors["Loras[2].Name"]);
        Assert.Contains("selected twice", errors["Loras[3].Name"]);
        Assert.Contains("must be between -5 and 5", errors["Loras[4].Scale"]);
    }

    [Fact]
    public void EnsureValid_throws_with_every_message()
    {
        var validator = new GenerationRequestValidator();
        var error = Assert.Throws<RequestValidationException>(() =>
            validator.EnsureValid(new GenerationRequest { Prompt = "", Width = 17 }));

        Assert.Equal(["Prompt", "Width"], error.Errors.Keys.Order());
        Assert.Contains("Width: Width must be a multiple of 16", error.Message);
    }

    [Fact]
    public void Plain_file_names_only()
    {
        Assert.True(LoraCatalog.IsPlainFileName("a b.safetensors"));
        Assert.False(LoraCatalog.IsPlainFileName("dir/a.safetensors"));
        Assert.False(LoraCatalog.IsPlainFileName("..\\a.safetensors"));
        Assert.False(LoraCatalog.IsPlainFileName(".."));
        Assert.False(LoraCatalog.IsPlainFileName(""));
    }

    private string CreateFile(string name)
    {
        var path = Path.Combine(_sandbox.Root, name);
        File.WriteAllBytes(path, [0]);
        return path;
    }
}
