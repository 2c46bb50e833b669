// Build step that lets TorchSharp's native library load on systems whose libstdc++ predates GCC 13.
//
// libLibTorchSharp.so declares a need for GLIBCXX_3.4.32 only because of one symbol,
// _ZSt21ios_base_library_initv, which it references but never calls. Marking that version-need entry
// weak (VER_FLG_WEAK in .gnu.version_r) makes the dynamic loader accept its absence. The step runs on
// the copy in the build or publish output, never on the NuGet cache, and only where the system
// libstdc++ does not define the version.
//
// This file is compiled twice: by MSBuild's RoslynCodeTaskFactory (with the task class) and by the
// build tests (with NO_MSBUILD_TASK defined, without the MSBuild dependency). The task factory compiles
// against .NET Standard, so the code avoids records and newer file APIs.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace FluxStudio.Build
{
    public enum WeakenDecision
    {
        /// <summary>The library needs no change (no such requirement, or it is already weak).</summary>
        NothingToDo,
        /// <summary>The system libstdc++ defines the version, so the library loads as it is.</summary>
        SystemHasVersion,
        /// <summary>The requirement must be marked weak.</summary>
        Weaken,
    }

    public sealed class VersionNeed
    {
        public const ushort WeakFlag = 0x2;

        public VersionNeed(string file, string version, ushort flags, long flagsOffset)
        {
            File = file;
            Version = version;
            Flags = flags;
            FlagsOffset = flagsOffset;
        }

        public string File { get; }
        public string Version { get; }
        public ushort Flags { get; }
        /// <summary>Byte offset of vna_flags in the file.</summary>
        public long FlagsOffset { get; }
        public bool IsWeak => (Flags & WeakFlag) != 0;
    }

    /// <summary>Reads and patches the GNU symbol-versioning sections of 64-bit little-endian ELF files.</summary>
    public static class ElfSymbolVersions
    {
        private const uint ShtGnuVerdef = 0x6ffffffd;
        private const uint ShtGnuVerneed = 0x6ffffffe;

        public static readonly string[] SystemLibraryDirectories =
        {
            "/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
            "/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib",
        };

        public static string? FindSystemLibStdCxx()
        {
            foreach (var dir in SystemLibraryDirectories)
            {
                var path = Path.Combine(dir, "libstdc++.so.6");
                if (File.Exists(path)) return path;
            }
            return null;
        }

        /// <summary>The version names a shared library defines (its .gnu.version_d section).</summary>
        public static HashSet<string> ReadDefinedVersions(string path)
        {
            var bytes = File.ReadAllBytes(path);
            var result = new HashSet<string>(StringComparer.Ordinal);
            var sections = ReadSections(bytes, path);
            foreach (var section in sections)
            {
                if (section.Type != ShtGnuVerdef) continue;
                var strings = sections[(int)section.Link];
                long entry = section.Offset;
                for (int i = 0; i < section.Info && entry < section.Offset + section.Size; i++)
                {
                    ushort auxCount = U16(bytes, entry + 6);
                    uint auxOffset = U32(bytes, entry + 12);
                    uint next = U32(bytes, entry + 16);
                    if (auxCount > 0)
                    {
                        uint nameOffset = U32(bytes, entry + auxOffset);
                        result.Add(CString(bytes, strings.Offset + nameOffset));
                    }
                    if (next == 0) break;
                    entry += next;
                }
            }
            return result;
        }

        /// <summary>Every version a shared library requires, per needed file (its .gnu.version_r section).</summary>
        public static List<VersionNeed> ReadVersionNeeds(string path) => ReadVersionNeeds(File.ReadAllBytes(path), path);

        private static List<VersionNeed> ReadVersionNeeds(byte[] bytes, string path)
        {
            var result = new List<VersionNeed>();
            var sections = ReadSections(bytes, path);
            foreach (var section in sections)
            {
                if (section.Type != ShtGnuVerneed) continue;
                var strings = sections[(int)section.Link];
                long entry = section.Offset;
                for (int i = 0; i < section.Info; i++)
                {
                    ushort count = U16(bytes, entry + 2);
                    string file = CString(bytes, strings.Offset + U32(bytes, entry + 4));
                    long aux = entry + U32(bytes, entry + 8);
                    for (int j = 0; j < count; j++)
                    {
                        ushort flags = U16(bytes, aux + 4);
                        string name = CString(bytes, strings.Offset + U32(bytes, aux + 8));
                        result.Add(new VersionNeed(file, name, flags, aux + 4));
                        uint nextAux = U32(bytes, aux + 12);
                        if (nextAux == 0) break;
                        aux += nextAux;
                    }
                    uint next = U32(bytes, entry + 12);
                    if (next == 0) break;
                    entry += next;
                }
            }
            return result;
        }

        public static WeakenDecision Decide(IReadOnlyCollection<VersionNeed> needs, ISet<string>? systemVersions, string version)
        {
            bool needsStrongly = false;
            foreach (var need in needs)
                if (need.Version == version && !need.IsWeak) needsStrongly = true;
            if (!needsStrongly) return WeakenDecision.NothingToDo;
            if (systemVersions != null && systemVersions.Contains(version)) return WeakenDecision.SystemHasVersion;
            return WeakenDecision.Weaken;
        }

        /// <summary>
        /// Marks every requirement of <paramref name="version"/> weak. Writes a new file and renames it over the
        /// old one, so a hard link into a package cache is never modified. Returns whether anything changed.
        /// </summary>
        public static bool MarkWeak(string path, string version)
        {
            var toWeaken = new List<VersionNeed>();
            foreach (var need in ReadVersionNeeds(path))
                if (need.Version == version && !need.IsWeak) toWeaken.Add(need);
            if (toWeaken.Count == 0) return false;

            // File.Copy makes a new file with the same mode; patch it, then put it in place.
            var temporary = path + ".weakening";
            File.Copy(path, temporary, overwrite: true);
            using (var stream = new FileStream(temporary, FileMode.Open, FileAccess.Write))
            {
                foreach (var need in toWeaken)
                {
                    ushort flags = (ushort)(need.Flags | VersionNeed.WeakFlag);
                    stream.Position = need.FlagsOffset;
                    stream.WriteByte((byte)flags);
                    stream.WriteByte((byte)(flags >> 8));
                }
            }
            File.Delete(path);
            File.Move(temporary, path);
            return true;
        }

        /// <summary>Decides and, where needed, patches. Returns a one-line account of what happened.</summary>
        public static string Apply(string libraryPath, string? systemLibStdCxx, string version)
        {
            var systemVersions = systemLibStdCxx != null && File.Exists(systemLibStdCxx)
                ? ReadDefinedVersions(systemLibStdCxx)
                : null;
            var decision = Decide(ReadVersionNeeds(libraryPath), systemVersions, version);
            switch (decision)
            {
                case WeakenDecision.NothingToDo:
                    return $"{libraryPath}: no strong {version} requirement; left as it is.";
                case WeakenDecision.SystemHasVersion:
                    return $"{libraryPath}: {systemLibStdCxx} defines {version}; left as it is.";
                default:
                    MarkWeak(libraryPath, version);
                    return $"{libraryPath}: marked the {version} requirement weak (system libstdc++ lacks it).";
            }
        }

        private sealed class Section
        {
            public uint Type;
            public long Offset;
            public long Size;
            public uint Link;
            public uint Info;
        }

        private static List<Section> ReadSections(byte[] bytes, string path)
        {
            if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
                throw new InvalidDataException($"{path} is not an ELF file.");
            if (bytes[4] != 2 || bytes[5] != 1)
                throw new InvalidDataException($"{path} is not a 64-bit little-endian ELF file.");
            long sectionTable = (long)U64(bytes, 0x28);
            ushort entrySize = U16(bytes, 0x3A);
            ushort count = U16(bytes, 0x3C);
            if (sectionTable <= 0 || entrySize < 64 || sectionTable + (long)entrySize * count > bytes.Length)
                throw new InvalidDataException($"{path} has no readable section table.");
            var sections = new List<Section>(count);
            for (int i = 0; i < count; i++)
            {
                long header = sectionTable + (long)i * entrySize;
                sections.Add(new Section
                {
                    Type = U32(bytes, header + 4),
                    Offset = (long)U64(bytes, header + 24),
                    Size = (long)U64(bytes, header + 32),
                    Link = U32(bytes, header + 40),
                    Info = U32(bytes, header + 44),
                });
            }
            return sections;
        }

        private static ushort U16(byte[] b, long o) => (ushort)(b[o] | b[o + 1] << 8);
        private static uint U32(byte[] b, long o) => (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24);
        private static ulong U64(byte[] b, long o) => U32(b, o) | (ulong)U32(b, o + 4) << 32;

        private static string CString(byte[] b, long o)
        {
            long end = o;
            while (end < b.Length && b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, (int)o, (int)(end - o));
        }
    }

#if !NO_MSBUILD_TASK
    /// <summary>MSBuild task: applies <see cref="ElfSymbolVersions.Apply"/> to each given library.</summary>
    public sealed class WeakenGlibcxxRequirement : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Libraries { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        public string Version { get; set; } = "GLIBCXX_3.4.32";

        /// <summary>Path of the system libstdc++; found in the usual library folders when empty.</summary>
        public string SystemLibStdCxx { get; set; } = "";

        public override bool Execute()
        {
            var system = string.IsNullOrEmpty(SystemLibStdCxx) ? ElfSymbolVersions.FindSystemLibStdCxx() : SystemLibStdCxx;
            foreach (var library in Libraries)
            {
                try
                {
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal,
                        ElfSymbolVersions.Apply(library.ItemSpec, system, Version));
                }
                catch (Exception e) when (e is IOException || e is InvalidDataException || e is UnauthorizedAccessException)
                {
                    Log.LogError($"Could not check {library.ItemSpec} for its {Version} requirement: {e.Message}");
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
