using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using UserTcp.Sockets;
using UserTcp.Testing;
using UserTcp.Wire;

namespace UserTcp.AspNetCore.Tests;

/// <summary>Which endpoints the transport claims, and how a bind that cannot work fails.</summary>
public sealed class TransportBindingTests : IAsyncLifetime
{
    private NetStack _stack = null!;

    public Task InitializeAsync()
    {
        _stack = NetStack.Start(MemoryPacketPipe.Create().A, new NetStackOptions { Address = new Ipv4Address(10, 0, 0, 2) });
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _stack.DisposeAsync();

    [Theory]
    [InlineData("10.0.0.2", true)]
    [InlineData("0.0.0.0", true)]
    [InlineData("::", true)]
    [InlineData("::ffff:10.0.0.2", true)]
    [InlineData("10.0.0.3", false)]
    [InlineData("127.0.0.1", false)]
    [InlineData("::1", false)]
    public void The_transport_claims_the_stacks_address_and_the_wildcards_only(string address, bool claimed)
    {
        var factory = new UserTcpTransportFactory(_stack);

        Assert.Equal(claimed, factory.CanBind(new IPEndPoint(IPAddress.Parse(address), 80)));
    }

    [Fact]
    public async Task A_wildcard_bind_listens_on_the_stacks_address()
    {
        var factory = new UserTcpTransportFactory(_stack);

        await using IConnectionListener listener = await factory.BindAsync(new IPEndPoint(IPAddress.IPv6Any, 8080));

        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 8080), listener.EndPoint);
        Assert.Contains(_stack.SnapshotListeners(), l => l.Local.Port == 8080);
        await listener.UnbindAsync();
        Assert.DoesNotContain(_stack.SnapshotListeners(), l => l.Local.Port == 8080);
    }

    [Fact]
    public async Task A_port_the_stack_already_listens_on_is_address_in_use()
    {
        var factory = new UserTcpTransportFactory(_stack);
        await using IConnectionListener first = await factory.BindAsync(new IPEndPoint(IPAddress.Parse("10.0.0.2"), 80));

        AddressInUseException taken = await Assert.ThrowsAsync<AddressInUseException>(() => factory.BindAsync(new IPEndPoint(IPAddress.Any, 80)).AsTask());

        Assert.Contains("10.0.0.2:80 already has a listener", taken.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10.0.0.2", 0, "needs a port to listen on")]
    [InlineData("127.0.0.1", 80, "listens on its stack's address 10.0.0.2")]
    public async Task A_bind_that_cannot_work_says_what_to_listen_on(string address, int port, string message)
    {
        var factory = new UserTcpTransportFactory(_stack);

        NotSupportedException refused = await Assert.ThrowsAsync<NotSupportedException>(() => factory.BindAsync(new IPEndPoint(IPAddress.Parse(address), port)).AsTask());

        Assert.Contains(message, refused.Message, StringComparison.Ordinal);
        Assert.Contains("http://10.0.0.2:PORT", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_host_with_an_endpoint_elsewhere_leaves_it_to_the_kernels_transport()
    {
        // One app, two endpoints: the stack's address on UserTcp, loopback on Kestrel's Sockets transport.
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUserTcp(_stack).UseUrls("http://10.0.0.2:80", "http://127.0.0.1:0");
        await using WebApplication app = builder.Build();
        app.MapGet("/", () => "hello");

        await app.StartAsync();
        try
        {
            string kernelUrl = Assert.Single(app.Urls, u => u.StartsWith("http://127.0.0.1:", StringComparison.Ordinal));
            using var kernelClient = new HttpClient();
            Assert.Equal("hello", await kernelClient.GetStringAsync(kernelUrl));
            Assert.Contains(_stack.SnapshotListeners(), l => l.Local.Port == 80);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public void Options_that_cannot_work_are_refused_when_the_transport_is_made()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new UserTcpTransportFactory(_stack, new UserTcpTransportOptions { Backlog = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new UserTcpTransportFactory(_stack, new UserTcpTransportOptions { MaxReadBufferSize = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new UserTcpTransportFactory(_stack, new UserTcpTransportOptions { LingerTimeout = TimeSpan.FromSeconds(-2) }));
    }
}
