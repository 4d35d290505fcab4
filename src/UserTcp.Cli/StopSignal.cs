using System.Runtime.InteropServices;

namespace UserTcp.Cli;

/// <summary>Ctrl-C (SIGINT) and SIGTERM as a cancellation: the first asks for a clean stop, a second one ends the process at once.</summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration[] _registrations;

    public StopSignal()
    {
        _registrations =
        [
            PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal),
            PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal),
        ];
    }

    public CancellationToken Token => _stop.Token;
    /// <summary>SIGINT or SIGTERM, once one arrived.</summary>
    public string? Received { get; private set; }

    private void OnSignal(PosixSignalContext context)
    {
        if (_stop.IsCancellationRequested) return; // the second signal: let the default action end the process
        context.Cancel = true;
        Received = context.Signal == PosixSignal.SIGINT ? "SIGINT" : "SIGTERM";
        _stop.Cancel();
    }

    public void Dispose()
    {
        foreach (PosixSignalRegistration registration in _registrations) registration.Dispose();
        _stop.Dispose();
    }
}
