using System.Runtime.Versioning;
using UserTcp.Sockets;
using UserTcp.Tun;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// The README's first API example (an echo server on a TUN device), compiled here and run against the kernel's nc by
/// <see cref="ReadmeEchoExampleTests"/>, which also checks that the README shows exactly the lines between the markers.
/// </summary>
[SupportedOSPlatform("linux")]
internal static class ReadmeEchoExample
{
    /// <summary>Runs the example as written: it serves until its device fails (the test deletes the interface).</summary>
    public static async Task RunAsync()
    {
        // readme: echo
        var tun = TunDevice.Open(new TunOptions("utcp0", InterfaceAddress.Parse("10.77.0.1/24")));
        await using NetStack stack = NetStack.Start(tun, new NetStackOptions { Address = Ipv4Address.Parse("10.77.0.2") });
        using UserTcpListener listener = stack.Listen(7);
        while (true)
        {
            UserTcpConnection connection = await listener.AcceptAsync();
            _ = Task.Run(async () =>
            {
                await using (connection)
                {
                    await connection.Stream.CopyToAsync(connection.Stream); // echo until the peer's FIN, then close
                }
            });
        }
        // readme: end
    }
}
