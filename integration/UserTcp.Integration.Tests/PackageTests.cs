using System.IO.Compression;
using System.Reflection;
using UserTcp.Lab;
using UserTcp.Testing;

namespace UserTcp.Integration.Tests;

/// <summary>
/// `dotnet pack` of the solution as built, then the tool installed from that local feed into a tool path of its own
/// and run as a user would: `usertcp --version` and `usertcp doctor` (which makes, and removes, a namespace of its
/// own). Budget: about 40 s for the pack and 5 s for the install here; the bound is 4 min.
/// </summary>
public sealed class PackageTests
{
    private static readonly TimeSpan PackTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(60);

    // The packages a user embeds (issue 12): wire, engine, devices, runtime, TUN, live stack, the Kestrel transport, and
    // the system calls under TUN, which UserTcp.Tun depends on.
    private static readonly string[] Libraries =
        ["UserTcp.Wire", "UserTcp.Engine", "UserTcp.Link", "UserTcp.Sockets", "UserTcp.Interop", "UserTcp.Tun", "UserTcp.Live", "UserTcp.AspNetCore"];

    [RequiresNetAdminFact]
    public void The_packed_tool_installs_from_a_local_feed_and_its_doctor_passes()
    {
        NetAdminEnvironment.Require();
        string version = typeof(PackageTests).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];
        string work = Directory.CreateTempSubdirectory("usertcp-pack-").FullName;
        try
        {
            string feed = Path.Combine(work, "feed");
            using (PeerProgram pack = PeerProgram.Run(PackTimeout, "dotnet", "pack", Path.Combine(ReadmeSource.RepositoryRoot(), "UserTcp.sln"),
                "-c", Configuration(), "--no-build", "-o", feed, "-nologo"))
            {
                Assert.True(pack.ExitCode == 0, pack.Transcript);
            }

            string[] packages = [.. Directory.GetFiles(feed, "*.nupkg").Select(Path.GetFileName).Order(StringComparer.Ordinal)!];
            Assert.Equal([.. Libraries.Append("UserTcp.Cli").Select(id => $"{id}.{version}.nupkg").Order(StringComparer.Ordinal)], packages);
            foreach (string id in Libraries)
            {
                using ZipArchive package = ZipFile.OpenRead(Path.Combine(feed, $"{id}.{version}.nupkg"));
                string[] entries = [.. package.Entries.Select(e => e.FullName)];
                Assert.Contains("README.md", entries);
                Assert.Contains($"lib/net10.0/{id}.dll", entries);
                Assert.Contains($"lib/net10.0/{id}.xml", entries); // the XML documentation
                Assert.True(File.Exists(Path.Combine(feed, $"{id}.{version}.snupkg")), $"{id} has no symbol package");
            }

            // A NuGet configuration with only the local feed, and a package cache of the test's own, so the tool
            // installed is the one just packed, not a cached package of the same version.
            string config = Path.Combine(work, "nuget.config");
            File.WriteAllText(config, $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="local" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            string tools = Path.Combine(work, "tools");
            using (PeerProgram install = PeerProgram.Run(PackTimeout, ["dotnet", "tool", "install", "UserTcp.Cli", "--version", version,
                "--tool-path", tools, "--configfile", config], start => StartWithPackageCache(start, Path.Combine(work, "packages"))))
            {
                Assert.True(install.ExitCode == 0, install.Transcript);
            }

            string usertcp = Path.Combine(tools, "usertcp");
            using (PeerProgram versionCommand = PeerProgram.Run(CommandTimeout, usertcp, "--version"))
            {
                Assert.True(versionCommand.ExitCode == 0, versionCommand.Transcript);
                Assert.StartsWith(version, Assert.Single(versionCommand.OutputLines), StringComparison.Ordinal);
            }

            using PeerProgram doctor = PeerProgram.Run(CommandTimeout, usertcp, "doctor");
            Assert.True(doctor.ExitCode == 0, doctor.Transcript);
            Assert.Contains(doctor.OutputLines, line => line.StartsWith($"info  usertcp         {version}", StringComparison.Ordinal));
            Assert.Contains(doctor.OutputLines, line => line.StartsWith("ok    tun in netns", StringComparison.Ordinal));
            Assert.DoesNotContain(doctor.OutputLines, line => line.StartsWith("FAIL", StringComparison.Ordinal));
            using PeerProgram namespaces = PeerProgram.Run(CommandTimeout, "ip", "netns", "list");
            Assert.DoesNotContain(namespaces.OutputLines, line => line.StartsWith($"usertcp-doctor-{doctor.Id}", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    private static System.Diagnostics.Process? StartWithPackageCache(System.Diagnostics.ProcessStartInfo start, string packages)
    {
        start.Environment["NUGET_PACKAGES"] = packages;
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return System.Diagnostics.Process.Start(start);
    }

    // The tests run from bin/<Configuration>/net10.0 of this project; the packages come from the same configuration.
    private static string Configuration() => new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
}
