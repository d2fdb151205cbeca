import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A test server listening on a free loopback port; `close()` ends its kept-alive connections too. */
export async function listening(server: Server): Promise<{ port: number; close(): Promise<void> }> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
