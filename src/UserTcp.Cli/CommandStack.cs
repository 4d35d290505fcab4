using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using UserTcp.Engine;
using UserTcp.Live;
using UserTcp.Sockets;

namespace UserTcp.Cli;

/// <summary>
/// The live stack of one command (`serve`, `connect`, `get`), built by <see cref="LiveStackBuilder"/> from its
/// options, logging to stderr. Disposing stops the stack, which closes the TUN device and so removes the interface.
/// </summary>
internal sealed class CommandStack : IAsyncDisposable
{
    private CommandStack(StackSettings settings, LiveStack live, ILoggerFactory logs)
    {
        Settings = settings;
        Live = live;
        Logs = logs;
    }

    public StackSettings Settings { get; }
    public LiveStack Live { get; }
    public NetStack Stack => Live.Stack;
    public ILoggerFactory Logs { get; }
    public string Where => Live.Where;

    /// <exception cref="UserTcp.Tun.TunException">The interface cannot be made (name in use, no CAP_NET_ADMIN, no such namespace).</exception>
    /// <exception cref="CliException">The capture file cannot be written.</exception>
    public static CommandStack Start(StackSettings settings, TcpConfig tcp)
    {
        ILoggerFactory logs = CreateLogging(settings.LogLevel);
        try
        {
            LiveStack live = (settings.Builder with { Tcp = settings.Tcp(tcp), Logging = logs }).Start();
            return new CommandStack(settings, live, logs);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logs.Dispose();
            throw new CliException(1, $"cannot write --pcap {settings.Builder.CapturePath}: {e.Message}");
        }
        catch
        {
            logs.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Live.DisposeAsync().ConfigureAwait(false);
        Logs.Dispose();
    }

    /// <summary>One line per message on stderr (stdout stays for what the command produces).</summary>
    public static ILoggerFactory CreateLogging(LogLevel level) => LoggerFactory.Create(builder => builder
        .SetMinimumLevel(level)
        .AddConsole(o => o.LogToStandardErrorThreshold = Microsoft.Extensions.Logging.LogLevel.Trace)
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
            o.ColorBehavior = LoggerColorBehavior.Default;
        }));
}
