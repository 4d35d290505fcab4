using System.Diagnostics;

namespace UserTcp.Services.Tests;

/// <summary>
/// The built `usertcp` executable given wrong command lines for serve, connect, get and ss: each mistake is one line on
/// stderr saying what to do, exit code 2, before anything touches the system (so no root is needed).
/// </summary>
public sealed class CliMistakeTests
{
    private static readonly string Usertcp = Path.Combine(AppContext.BaseDirectory, "usertcp");

    [Theory]
    [InlineData("unknown service 'ftp': choose from echo, discard, daytime, chargen, http (or all)", "serve", "--services", "echo,ftp")]
    [InlineData("has a bad port", "serve", "--services", "http:99999")]
    [InlineData("--address 10.78.0.2 is outside --kernel-address 10.77.0.1/24", "serve", "--address", "10.78.0.2")]
    [InlineData("--address 10.77.0.1 is the kernel's own address", "serve", "--address", "10.77.0.1")]
    [InlineData("--address '10.77.2' is not an IPv4 address: write it as a.b.c.d", "serve", "--address", "10.77.2")]
    [InlineData("--kernel-address '10.77.0.1' is not an IPv4 address with a prefix length", "serve", "--kernel-address", "10.77.0.1")]
    [InlineData("--kernel-address 10.77.0.1/0 would route every address through the interface: use a prefix from /8 to /30", "serve", "--kernel-address", "10.77.0.1/0")]
    [InlineData("--kernel-address 10.77.0.1/7 would route a /7 of the address space through the interface", "serve", "--kernel-address", "10.77.0.1/7")]
    [InlineData("--mtu must be a whole number from 576 to 65535, not '100'", "serve", "--mtu", "100")]
    [InlineData("--device-mode 'fast' is not a mode: use offload or plain", "serve", "--device-mode", "fast")]
    [InlineData("--figures 'fast' names no figure ('fast'): use download,upload,rr,cc,held", "bench", "--figures", "fast")]
    [InlineData("--log-level 'loud' is not a level", "serve", "--log-level", "loud")]
    [InlineData("--time-wait must be a number of seconds above 0", "serve", "--time-wait", "-1")]
    [InlineData("interface name 'far-too-long-name0' is 18 characters: Linux allows at most 15", "serve", "--iface", "far-too-long-name0")]
    [InlineData("--netns 'a/b' is not a namespace name", "serve", "--netns", "a/b")]
    [InlineData("--pcap '/nonexistent-dir/x.pcap': directory /nonexistent-dir does not exist", "serve", "--pcap", "/nonexistent-dir/x.pcap")]
    [InlineData("--pcap '' is not a file name: give a path such as run.pcapng", "serve", "--pcap", "")]
    [InlineData("--pcap '' is not a file name: give a path such as run.pcapng", "get", "http://10.77.0.1/", "--pcap", "")]
    [InlineData("--pcap '' is not a file name: give a path such as demo.pcapng", "demo", "--pcap", "")]
    [InlineData("--report '' is not a directory name: give a path such as lab-report", "lab", "run-all", "--report", "")]
    [InlineData("--report '/etc/hostname' is not a directory name", "lab", "run-all", "--report", "/etc/hostname")]
    // --netns names no namespace, so a ready file that slipped through would fail there (exit 1), never on the host.
    [InlineData("--ready-file '' is not a file name: give a path such as ready.txt", "serve", "--ready-file", "", "--netns", "usertcp-test-none")]
    [InlineData("--ready-file '/tmp' is not a file name: give a path such as ready.txt", "serve", "--ready-file", "/tmp", "--netns", "usertcp-test-none")]
    [InlineData("--ready-file '/nonexistent-dir/r': directory /nonexistent-dir does not exist", "serve", "--ready-file", "/nonexistent-dir/r", "--netns", "usertcp-test-none")]
    [InlineData("--fault 'drop frm-kernel flags=FIN': 'frm-kernel' is not a selector: use to-kernel, from-kernel", "serve", "--fault", "drop frm-kernel flags=FIN")]
    [InlineData("--fault 'delay to-kernel': 'delay' needs a duration, as delay=200ms", "connect", "10.77.0.1", "7", "--fault", "drop", "--fault", "delay to-kernel")]
    [InlineData("--fault 'drop flags=FIN+AKC': 'AKC' in 'flags=FIN+AKC' is not a TCP flag", "get", "http://10.77.0.1/", "--fault", "drop flags=FIN+AKC")]
    [InlineData("--fault-seed must be a whole number from 0 to 2147483647, not 'x'", "serve", "--fault-seed", "x")]
    [InlineData("no scenario 'fin-lsot': choose from fin-no-reply, fin-ack-only, last-ack-lost", "lab", "run", "fin-lsot")]
    [InlineData("--role 'sideways' is not a role: use active, passive or both", "lab", "run", "last-ack-lost", "--role", "sideways")]
    [InlineData("Option '--report' is required", "lab", "run-all")]
    [InlineData("HOST 'example.com' is not an IPv4 address", "connect", "example.com", "7")]
    [InlineData("PORT must be a whole number from 1 to 65535, not '0'", "connect", "10.77.0.1", "0")]
    [InlineData("HOST 10.77.0.2 is UserTcp's own --address", "connect", "10.77.0.2", "7")]
    [InlineData("Required argument 'PORT' missing", "connect", "10.77.0.1")]
    [InlineData("--connect-timeout must be a number of seconds above 0", "connect", "10.77.0.1", "7", "--connect-timeout", "0")]
    [InlineData("is https: usertcp get speaks plain HTTP only", "get", "https://10.77.0.1/")]
    [InlineData("names host 'example.com': give an IPv4 address", "get", "http://example.com/")]
    [InlineData("is not an http:// URL", "get", "10.77.0.1/file")]
    [InlineData("-o '/nonexistent-dir/f': directory /nonexistent-dir does not exist", "get", "http://10.77.0.1/f", "-o", "/nonexistent-dir/f")]
    [InlineData("-H 'NoColon' is not a header: write it as 'Name: value'", "get", "http://10.77.0.1/", "-H", "NoColon")]
    [InlineData("-H 'Bad Name: x' is not a header", "get", "http://10.77.0.1/", "-H", "Bad Name: x")]
    [InlineData("-X 'GET ME' is not a method: give a word such as PUT or DELETE", "get", "http://10.77.0.1/", "-X", "GET ME")]
    [InlineData("--head sends no body: leave out --data", "get", "http://10.77.0.1/", "--head", "--data", "x")]
    [InlineData("--head and -X PUT each choose the method: give one of them", "get", "http://10.77.0.1/", "-I", "-X", "PUT")]
    [InlineData("--data @/nonexistent-file: there is no file /nonexistent-file", "get", "http://10.77.0.1/", "--data", "@/nonexistent-file")]
    [InlineData("--data @/tmp: /tmp is a directory, not a file", "get", "http://10.77.0.1/", "--data", "@/tmp")]
    [InlineData("interface name 'a b' may not contain spaces", "ss", "--iface", "a b")]
    [InlineData("--rto-formula 'fast' is not an RTO formula: use rfc6298 or linux", "serve", "--rto-formula", "fast")]
    [InlineData("--rto-formula 'fast' is not an RTO formula: use rfc6298 or linux", "connect", "10.77.0.1", "7", "--rto-formula", "fast")]
    [InlineData("--rto-formula 'fast' is not an RTO formula: use rfc6298 or linux", "get", "http://10.77.0.1/", "--rto-formula", "fast")]
    [InlineData("--rto-formula 'fast' is not an RTO formula: use rfc6298 or linux", "demo", "--rto-formula", "fast")]
    [InlineData("--rto-formula 'fast' is not an RTO formula: use rfc6298 or linux", "bench", "--rto-formula", "fast")]
    [InlineData("--rto-formula 'fast' is not an RTO formula: use rfc6298 or linux", "lab", "run", "rto-backoff", "--rto-formula", "fast")]
    [InlineData("--rto-formula 'fast' is not an RTO formula: use rfc6298 or linux", "lab", "run-all", "--report", "report", "--rto-formula", "fast")]
    public void A_mistake_is_one_line_and_exit_2(string expected, params string[] arguments)
    {
        (int exit, string[] stdout, string[] stderr) = Run(arguments);

        Assert.Equal(2, exit);
        Assert.Empty(stdout);
        string line = Assert.Single(stderr);
        Assert.StartsWith(arguments[0] == "lab" ? $"usertcp lab {arguments[1]}: " : $"usertcp {arguments[0]}: ", line, StringComparison.Ordinal);
        Assert.Contains(expected, line, StringComparison.Ordinal);
    }

    [Fact]
    public void Ss_without_a_serve_says_so_in_one_line_and_exits_1()
    {
        (int exit, string[] stdout, string[] stderr) = Run("ss", "--iface", $"utcp-none{Environment.ProcessId % 100000}");

        Assert.Equal(1, exit);
        Assert.Empty(stdout);
        Assert.Contains("no usertcp serve answers for utcp-none", Assert.Single(stderr), StringComparison.Ordinal);
    }

    [Fact]
    public void Help_lists_the_new_commands()
    {
        (int exit, string[] stdout, _) = Run("--help");

        Assert.Equal(0, exit);
        foreach (string command in new[] { "serve", "connect <HOST> <PORT>", "get <URL>", "ss" })
        {
            Assert.Contains(stdout, line => line.TrimStart().StartsWith(command + " ", StringComparison.Ordinal));
        }
        Assert.DoesNotContain(stdout, line => line.TrimStart().StartsWith("bench-client", StringComparison.Ordinal)); // the bench's own helper stays hidden
    }

    [Theory]
    [InlineData(">&-", "usertcp: standard output is closed: redirect it (>/dev/null) instead of closing it")]
    [InlineData("<&-", "usertcp: standard input is closed: redirect it (</dev/null) instead of closing it")]
    [InlineData("<&- >&-", "usertcp: standard input and standard output are closed: redirect them (</dev/null >/dev/null) instead of closing them")]
    [InlineData("2>&-", null)] // nowhere to say it
    public async Task A_closed_standard_descriptor_is_refused_in_one_line_before_the_runtimes_own_descriptor_in_its_place_is_used(string redirection, string? expected)
    {
        // lab list writes to standard output at once: without the check, into the runtime's pipe that took the closed number.
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(redirection == "2>&-" ? $"'{Usertcp}' lab list 2>&- >/dev/null; echo \"exit $?\"" : $"'{Usertcp}' lab list 2>&1 >/dev/null {redirection} | cat; echo \"exit ${{PIPESTATUS[0]}}\"");
        using Process process = Process.Start(start)!;
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        string stdout = await process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

        string[] lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("exit 2", lines[^1]);
        Assert.Equal(expected is null ? [] : [expected], lines[..^1]);
        Assert.Empty(await stderr); // no runtime crash report
    }

    private static (int Exit, string[] Stdout, string[] Stderr) Run(params string[] arguments)
    {
        var start = new ProcessStartInfo(Usertcp)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        process.StandardInput.Close();
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"usertcp {string.Join(' ', arguments)} still running after 30 s");
        }
        process.WaitForExit();
        static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        return (process.ExitCode, Lines(stdout.Result), Lines(stderr.Result));
    }
}
