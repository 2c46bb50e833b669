using System.Collections.Immutable;
using FluxStudio.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Diagnostics;

namespace FluxStudio.Build.Tests;

/// <summary>The analyzer compiles snippets against the real TorchSharp assembly and must flag exactly the short-lived Scalars.</summary>
public class TemporaryScalarAnalyzerTests
{
    [Theory]
    [InlineData("addcmul(a, b, c, 1)", "FS0001")]
    [InlineData("a.clamp(-1, 1)", "FS0001")]
    [InlineData("full(new long[] { 2 }, value)", "FS0001")]
    [InlineData("a * 0.5", "FS0002")]
    [InlineData("1 + a", "FS0002")]
    [InlineData("a / (long)value", "FS0002")]
    [InlineData("a + b", "FS0003")]
    [InlineData("a.add(b)", "FS0003")]
    [InlineData("a.add_(One)", "FS0003")]
    [InlineData("add(a, b)", "FS0003")]
    [InlineData("a.addcdiv(b, c)", "FS0003")]
    [InlineData("One - a", "FS0003")]
    [InlineData("a.square()", "FS0003")]
    public void FlagsAScalarThatLivesForOneCall(string expression, string rule)
    {
        var diagnostics = Analyze($"var result = {expression};");

        Assert.Contains(diagnostics, d => d.Id == rule);
    }

    [Fact]
    public void FlagsCompoundAssignments()
    {
        var diagnostics = Analyze("var result = a.clone(); result *= 2; result += b;");

        Assert.Contains(diagnostics, d => d.Id == "FS0002");
        Assert.Contains(diagnostics, d => d.Id == "FS0003");
    }

    [Theory]
    [InlineData("var result = addcmul(a, b, c, One);")]
    [InlineData("var result = (a * Half).add(b, One);")]
    [InlineData("var result = a - b.sub(c) - One;")]
    [InlineData("var result = addcdiv(a, b, c, One);")]
    [InlineData("var result = a.pow(b);")]
    [InlineData("using var scale = value.ToScalar(); var result = a.mul(scale);")]
    [InlineData("using Scalar low = -value, high = value; var result = a.clamp(low, high);")]
    [InlineData("var result = a * b / a.sum();")]
    public void AcceptsScalarsThatOutliveTheCall(string statements)
    {
        Assert.Empty(Analyze(statements));
    }

    [Fact]
    public void FlagsAPlainLocalWhichTheCallMayOutlive()
    {
        var diagnostics = Analyze("Scalar scale = value; var result = a.mul(scale);");

        Assert.Contains(diagnostics, d => d.Id == "FS0001");
    }

    private static ImmutableArray<Diagnostic> Analyze(string statements)
    {
        string source = $$"""
            using TorchSharp;
            using static TorchSharp.torch;

            public static class Snippet
            {
                private static readonly Scalar One = 1, Half = 0.5;

                public static void Run(Tensor a, Tensor b, Tensor c, double value)
                {
                    {{statements}}
                }
            }
            """;
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Append(typeof(TorchSharp.Scalar).Assembly.Location)
            .Select(path => MetadataReference.CreateFromFile(path));
        var compilation = CSharpCompilation.Create("Snippet", [CSharpSyntaxTree.ParseText(source)], references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary));
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        return compilation.WithAnalyzers([new TemporaryScalarAnalyzer()]).GetAnalyzerDiagnosticsAsync().GetAwaiter().GetResult();
    }
}
