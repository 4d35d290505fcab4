using UserTcp.Live;
using UserTcp.Services;

namespace UserTcp.Cli;

/// <summary>How the demo and the benches take down what they started: the services, then the stack under them.</summary>
internal static class LiveShutdown
{
    private static readonly TimeSpan ServiceStopTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Stops <paramref name="host"/> (if any) for at most 5 s, then disposes it and <paramref name="live"/>.</summary>
    public static async Task StopAsync(ServiceHost? host, LiveStack live)
    {
        if (host is not null)
        {
            try
            {
                await host.StopAsync(CancellationToken.None).WaitAsync(ServiceStopTimeout, CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // The stack's dispose resets what is still open.
            }
            await host.DisposeAsync().ConfigureAwait(false);
        }
        await live.DisposeAsync().ConfigureAwait(false);
    }
}
