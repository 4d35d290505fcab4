using System.Security.Cryptography;

namespace UserTcp.Simulation.Tests;

/// <summary>
/// An application on one end of a connection: writes a deterministic byte stream of a given length as fast as the
/// send buffer takes it, then shuts down sending; reads everything and hashes it. SHA-256 of what one side wrote
/// must equal SHA-256 of what the other read.
/// </summary>
internal sealed class StreamApp
{
    private readonly IncrementalHash _sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly IncrementalHash _receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private readonly byte[] _chunk = new byte[64 * 1024];
    private readonly byte[] _readBuffer = new byte[64 * 1024];
    private readonly long _length;
    private readonly uint _seed;

    public StreamApp(TcpConnection connection, long length, uint seed, bool closeWhenDone = true)
    {
        Connection = connection;
        _length = length;
        _seed = seed;
        CloseWhenDone = closeWhenDone;
    }

    public TcpConnection Connection { get; }
    public bool CloseWhenDone { get; }
    public long Sent { get; private set; }
    public long Received { get; private set; }
    public bool ReachedEndOfStream { get; private set; }
    public bool SentAll => Sent == _length;
    public bool Done => SentAll && ReachedEndOfStream;
    public byte[] SentHash => _sentHash.GetCurrentHash();
    public byte[] ReceivedHash => _receivedHash.GetCurrentHash();

    /// <summary>Does whatever the connection allows now.</summary>
    public void Pump()
    {
        if (Connection.State == TcpState.Closed) return;
        while (Sent < _length && !Connection.IsSendShutdown)
        {
            int size = (int)Math.Min(_chunk.Length, _length - Sent);
            Fill(_chunk.AsSpan(0, size), Sent);
            int accepted = Connection.Send(_chunk.AsSpan(0, size));
            _sentHash.AppendData(_chunk, 0, accepted);
            Sent += accepted;
            if (accepted < size) break;
        }
        if (SentAll && !Connection.IsSendShutdown) Connection.Shutdown(ShutdownDirection.Send);
        while (!ReachedEndOfStream)
        {
            ReceiveStatus status = Connection.Receive(_readBuffer, out int read);
            if (status == ReceiveStatus.Data)
            {
                _receivedHash.AppendData(_readBuffer, 0, read);
                Received += read;
                continue;
            }
            if (status == ReceiveStatus.EndOfStream) ReachedEndOfStream = true;
            break;
        }
        if (Done && CloseWhenDone && !Connection.IsOrphaned) Connection.Close();
    }

    /// <summary>The stream's bytes are a function of their position, so any chunk can be regenerated.</summary>
    private void Fill(Span<byte> destination, long position)
    {
        for (int i = 0; i < destination.Length; i++)
        {
            ulong x = (ulong)(position + i) * 0x9E3779B97F4A7C15UL ^ _seed;
            x ^= x >> 29;
            destination[i] = (byte)(x * 0xBF58476D1CE4E5B9UL >> 56);
        }
    }
}
