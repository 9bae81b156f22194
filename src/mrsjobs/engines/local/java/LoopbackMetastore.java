// A per-cluster Hive metastore daemon that listens on 127.0.0.1 only.
//
// Why it exists: Spark ships only embedded Derby, and embedded Derby lets one
// JVM open a database at a time, so two concurrent spark-sql jobs cannot each
// boot the cluster's metastore_db. This daemon is the one JVM that owns it and
// serves the Hive metastore Thrift API; jobs connect with
// hive.metastore.uris=thrift://127.0.0.1:PORT. Hive 2.3's own
// HiveMetaStore.main binds to every interface, so we build the same server
// from its parts and bind the socket ourselves.
//
// Run with Java's single-file source launcher against Spark's jars:
//   java -cp "$SPARK_HOME/jars/*" LoopbackMetastore.java HOME PORT PORT_FILE [IDLE_S
//        [WAREHOUSE]]
// HOME gets metastore_db/, warehouse/ (unless WAREHOUSE names another directory)
// and logs/derby.log. PORT 0, or a port
// that is taken, means "any free port". The port actually bound is written to
// PORT_FILE once the metastore is ready to serve.
//
// With IDLE_S > 0 the daemon ends itself once it has had no client connection
// for IDLE_S seconds AND HOME/metastore.heartbeat has not been touched for as
// long: every live service that uses it touches that file, every running SQL
// job holds a connection, so it goes when nobody needs it any more (a service
// that stopped or died leaves no JVM behind for ever).

import java.net.BindException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.hadoop.hive.conf.HiveConf;
import org.apache.hadoop.hive.conf.HiveConf.ConfVars;
import org.apache.hadoop.hive.metastore.HiveMetaStore;
import org.apache.hadoop.hive.metastore.IHMSHandler;
import org.apache.hadoop.hive.metastore.TSetIpAddressProcessor;
import org.apache.thrift.TException;
import org.apache.thrift.protocol.TBinaryProtocol;
import org.apache.thrift.protocol.TProtocol;
import org.apache.thrift.server.ServerContext;
import org.apache.thrift.server.TServer;
import org.apache.thrift.server.TServerEventHandler;
import org.apache.thrift.server.TThreadPoolServer;
import org.apache.thrift.transport.TServerSocket;
import org.apache.thrift.transport.TTransport;
import org.apache.thrift.transport.TTransportException;

public final class LoopbackMetastore {
  // Open client connections, and when the last one closed (or the daemon started).
  private static final AtomicInteger connections = new AtomicInteger();
  private static final AtomicLong lastActiveMs = new AtomicLong(System.currentTimeMillis());

  public static void main(String[] args) throws Exception {
    if (args.length < 3 || args.length > 5) {
      System.err.println("usage: LoopbackMetastore HOME PORT PORT_FILE [IDLE_S [WAREHOUSE]]");
      System.exit(2);
    }
    Path home = Path.of(args[0]).toAbsolutePath().normalize();
    int wantedPort = Integer.parseInt(args[1]);
    Path portFile = Path.of(args[2]).toAbsolutePath();
    double idleSeconds = args.length >= 4 ? Double.parseDouble(args[3]) : 0;
    Path warehouse = args.length == 5 ? Path.of(args[4]).toAbsolutePath().normalize()
        : home.resolve("warehouse");
    Path logs = home.resolve("logs");
    Files.createDirectories(warehouse);
    Files.createDirectories(logs);

    // Derby reads these when its driver boots, which is later (first JDBC
    // connection); without them derby.log lands in the daemon's cwd.
    System.setProperty("derby.system.home", home.toString());
    System.setProperty("derby.stream.error.file", logs.resolve("derby.log").toString());

    HiveConf conf = new HiveConf();
    // Plain set() beats any hive-site.xml found on the classpath.
    conf.set(ConfVars.METASTORECONNECTURLKEY.varname,
        "jdbc:derby:;databaseName=" + home.resolve("metastore_db") + ";create=true");
    conf.set(ConfVars.METASTOREWAREHOUSE.varname, warehouse.toUri().toString());
    // Spark's jars have no Hive schema scripts and no schematool: let
    // DataNucleus create the schema on first start and skip version checks,
    // exactly as Spark's own embedded metastore does.
    conf.set(ConfVars.METASTORE_AUTO_CREATE_ALL.varname, "true");
    conf.set(ConfVars.METASTORE_SCHEMA_VERIFICATION.varname, "false");
    // Hive 2.3 defaults to BoneCP, which Spark does not ship; HikariCP it does.
    conf.set(ConfVars.METASTORE_CONNECTION_POOLING_TYPE.varname, "HikariCP");
    // One local user: no need to impersonate clients, so no UGI transport.
    conf.set(ConfVars.METASTORE_EXECUTE_SET_UGI.varname, "false");

    // Open Derby and create the schema (slow on first start) BEFORE binding,
    // so "port accepts connections" really means ready to serve.
    IHMSHandler handler = HiveMetaStore.newRetryingHMSHandler(
        new HiveMetaStore.HMSHandler("loopback metastore", conf, false), conf);

    TServerSocket socket = bindLoopback(wantedPort);
    int port = socket.getServerSocket().getLocalPort();

    long maxMessage = conf.getLongVar(ConfVars.METASTORESERVERMAXMESSAGESIZE);
    TThreadPoolServer server = new TThreadPoolServer(new TThreadPoolServer.Args(socket)
        .processor(new TSetIpAddressProcessor<>(handler))
        .protocolFactory(new TBinaryProtocol.Factory())
        .inputProtocolFactory(new TBinaryProtocol.Factory(true, true, maxMessage, maxMessage))
        // One worker thread per open client connection; Hive's default
        // minimum of 200 pinned threads is pointless for a handful of jobs.
        .minWorkerThreads(4)
        .maxWorkerThreads(200)
        // On SIGTERM do not wait long for connected clients.
        .stopTimeoutVal(5));
    server.setServerEventHandler(new TServerEventHandler() {
      @Override public void preServe() {}
      @Override public ServerContext createContext(TProtocol in, TProtocol out) {
        connections.incrementAndGet();
        lastActiveMs.set(System.currentTimeMillis());
        return null;
      }
      @Override public void processContext(ServerContext c, TTransport in, TTransport out) {}
      @Override public void deleteContext(ServerContext c, TProtocol in, TProtocol out) {
        connections.decrementAndGet();
        lastActiveMs.set(System.currentTimeMillis());
        // Each worker thread caches a RawStore (JDO persistence manager) in a
        // ThreadLocal; release it when a client disconnects without calling
        // shutdown(), as HiveMetaStore.startMetaStore does.
        try {
          handler.shutdown();
        } catch (TException e) {
          System.err.println("LoopbackMetastore: cleanup after disconnect failed: " + e);
        }
      }
    });

    Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(server), "metastore-stop"));
    // Atomic rename: a reader never sees a half-written port number.
    Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
    Files.writeString(tmp, port + "\n");
    Files.move(tmp, portFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    System.out.println("LoopbackMetastore: serving thrift://127.0.0.1:" + port
        + " home=" + home);
    System.out.flush();
    if (idleSeconds > 0) {
      exitWhenUnneeded(home.resolve("metastore.heartbeat"), (long) (idleSeconds * 1000));
    }
    server.serve();
  }

  // Ends the daemon (through the shutdown hook: Derby is shut down cleanly) once
  // it has had no client for idleMs and no service has touched the heartbeat
  // file for as long. A missing heartbeat file counts as stale.
  private static void exitWhenUnneeded(Path heartbeat, long idleMs) {
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "metastore-idle");
      t.setDaemon(true);
      return t;
    });
    long every = Math.max(100, Math.min(idleMs / 4, 5000));
    timer.scheduleWithFixedDelay(() -> {
      long now = System.currentTimeMillis();
      long beat;
      try {
        beat = Files.getLastModifiedTime(heartbeat).toMillis();
      } catch (Exception e) {
        beat = 0;
      }
      if (connections.get() <= 0 && now - lastActiveMs.get() >= idleMs && now - beat >= idleMs) {
        System.out.println("LoopbackMetastore: no client and no service for "
            + idleMs / 1000.0 + "s, exiting");
        System.out.flush();
        System.exit(0);
      }
    }, every, every, TimeUnit.MILLISECONDS);
  }

  // The whole point: bind 127.0.0.1, never the wildcard address. Binding
  // here, in the daemon, also avoids the race of a caller probing a port that
  // someone else takes before we bind it.
  private static TServerSocket bindLoopback(int port) throws Exception {
    InetAddress loopback = InetAddress.getByName("127.0.0.1");
    try {
      return new TServerSocket(new InetSocketAddress(loopback, port));
    } catch (TTransportException e) {
      if (port == 0 || !(e.getCause() instanceof BindException)) {
        throw e;
      }
      System.out.println("LoopbackMetastore: port " + port + " is taken, using a free one");
      return new TServerSocket(new InetSocketAddress(loopback, 0));
    }
  }

  // SIGTERM path: stop accepting, then shut Derby down cleanly so the next
  // start does not have to run crash recovery.
  private static void stop(TServer server) {
    System.out.println("LoopbackMetastore: stopping");
    server.stop();
    try {
      DriverManager.getConnection("jdbc:derby:;shutdown=true").close();
    } catch (SQLException e) {
      // Derby reports a successful system shutdown as SQLState XJ015.
      if (!"XJ015".equals(e.getSQLState())) {
        e.printStackTrace();
      }
    }
    System.out.println("LoopbackMetastore: stopped");
    System.out.flush();
  }
}
