using System.Reflection;
using System.Text;
using FluxStudio.Build;

namespace FluxStudio.Build.Tests;

public sealed class GlibcxxCompatTests : IDisposable
{
    private const string Version = "GLIBCXX_3.4.32";
    private readonly string _dir = Directory.CreateTempSubdirectory("fluxstudio-elf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string PackageNative() =>
        typeof(GlibcxxCompatTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "TorchSharpPackageNative").Value!;

    private static string SystemLibStdCxx() =>
        ElfSymbolVersions.FindSystemLibStdCxx() ?? throw new InvalidOperationException("no system libstdc++.so.6");

    private string CopyOfPackageNative()
    {
        var copy = Path.Combine(_dir, "libLibTorchSharp.so");
        File.Copy(PackageNative(), copy);
        return copy;
    }

    /// <summary>A copy of the system libstdc++ in which one defined version is renamed to GLIBCXX_3.4.32.</summary>
    private string LibStdCxxThatDefinesVersion()
    {
        var bytes = File.ReadAllBytes(SystemLibStdCxx());
        var from = Encoding.ASCII.GetBytes("GLIBCXX_3.4.30\0");
        int at = bytes.AsSpan().IndexOf(from);
        Assert.True(at > 0, "the system libstdc++ should define GLIBCXX_3.4.30");
        Encoding.ASCII.GetBytes("GLIBCXX_3.4.32\0").CopyTo(bytes, at);
        var path = Path.Combine(_dir, "libstdc++.so.6");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void PackageLibraryNeedsTheVersionStrongly()
    {
        var needs = ElfSymbolVersions.ReadVersionNeeds(PackageNative());
        var need = Assert.Single(needs, n => n.Version == Version);
        Assert.Equal("libstdc++.so.6", need.File);
        Assert.False(need.IsWeak);
        Assert.Contains(needs, n => n.Version == "GLIBCXX_3.4");
    }

    [Fact]
    public void ReadsTheVersionsTheSystemLibraryDefines()
    {
        var defined = ElfSymbolVersions.ReadDefinedVersions(SystemLibStdCxx());
        Assert.Contains("GLIBCXX_3.4", defined);
        Assert.Contains("CXXABI_1.3", defined);
    }

    [Fact]
    public void DecidesToWeakenOnlyWhenTheSystemLacksTheVersion()
    {
        var needs = new[] { new VersionNeed("libstdc++.so.6", Version, 0, 0) };
        Assert.Equal(WeakenDecision.Weaken, ElfSymbolVersions.Decide(needs, new HashSet<string> { "GLIBCXX_3.4.30" }, Version));
        Assert.Equal(WeakenDecision.Weaken, ElfSymbolVersions.Decide(needs, null, Version));
        Assert.Equal(WeakenDecision.SystemHasVersion, ElfSymbolVersions.Decide(needs, new HashSet<string> { Version }, Version));
        var weak = new[] { new VersionNeed("libstdc++.so.6", Version, VersionNeed.WeakFlag, 0) };
        Assert.Equal(WeakenDecision.NothingToDo, ElfSymbolVersions.Decide(weak, new HashSet<string>(), Version));
        Assert.Equal(WeakenDecision.NothingToDo, ElfSymbolVersions.Decide([], new HashSet<string>(), Version));
    }

    [Fact]
    public void LeavesTheLibraryUntouchedWhenTheSystemLibraryHasTheVersion()
    {
        var library = CopyOfPackageNative();
        var before = File.ReadAllBytes(library);
        var system = LibStdCxxThatDefinesVersion();
        Assert.Contains(Version, ElfSymbolVersions.ReadDefinedVersions(system));

        var account = ElfSymbolVersions.Apply(library, system, Version);

        Assert.Contains("left as it is", account);
        Assert.Equal(before, File.ReadAllBytes(library));
    }

    [Fact]
    public void WeakensExactlyTheFlagsOfThatVersionAndIsIdempotent()
    {
        var library = CopyOfPackageNative();
        var original = File.ReadAllBytes(PackageNative());
        var withoutVersion = new HashSet<string> { "GLIBCXX_3.4.30" };

        Assert.True(ElfSymbolVersions.MarkWeak(library, Version));
        var patched = File.ReadAllBytes(library);
        var need = Assert.Single(ElfSymbolVersions.ReadVersionNeeds(library), n => n.Version == Version);
        Assert.True(need.IsWeak);
        var differing = Enumerable.Range(0, original.Length).Where(i => original[i] != patched[i]).ToArray();
        Assert.Equal([need.FlagsOffset], differing.Select(i => (long)i));
        Assert.Equal(WeakenDecision.NothingToDo, ElfSymbolVersions.Decide(ElfSymbolVersions.ReadVersionNeeds(library), withoutVersion, Version));

        Assert.False(ElfSymbolVersions.MarkWeak(library, Version));
        Assert.Equal(patched, File.ReadAllBytes(library));
        Assert.Equal(original, File.ReadAllBytes(PackageNative()));
    }

    [Fact]
    public void RejectsFilesThatAreNotElf()
    {
        var path = Path.Combine(_dir, "not-elf.so");
        File.WriteAllText(path, "definitely not an ELF file, but long enough to have a header of sixty-four bytes.");
        var error = Assert.Throws<InvalidDataException>(() => ElfSymbolVersions.ReadVersionNeeds(path));
        Assert.Contains("not an ELF file", error.Message);
    }

    [Fact]
    public void TheBuildOutputCopyLoadsOnThisSystem()
    {
        // The build step ran on this test project's own output: the copy there must match the system's needs.
        var output = Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories);
        Assert.NotEmpty(output);
        var systemHasVersion = ElfSymbolVersions.ReadDefinedVersions(SystemLibStdCxx()).Contains(Version);
        foreach (var copy in output)
        {
            var need = Assert.Single(ElfSymbolVersions.ReadVersionNeeds(copy), n => n.Version == Version);
            Assert.Equal(!systemHasVersion, need.IsWeak);
        }
    }
}
