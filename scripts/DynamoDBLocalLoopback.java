// Starts DynamoDB Local listening on one address only (127.0.0.1 unless -Ddynamodb.host=... says
// otherwise). DynamoDB Local has no host option: its Jetty server listens on every interface.
// This launcher builds the same server DynamoDB Local's own main would, from the same
// command-line options, and sets the address of its connectors before it starts.
//
// Run as a single-file program (JDK 11+), with DynamoDB Local on the class path:
//   java -cp DynamoDBLocal.jar:DynamoDBLocal_lib/* scripts/DynamoDBLocalLoopback.java -port 8000 -inMemory
import java.lang.reflect.Field;
import org.eclipse.jetty.server.Connector;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import software.amazon.dynamodb.services.local.main.ServerRunner;
import software.amazon.dynamodb.services.local.server.DynamoDBProxyServer;

public class DynamoDBLocalLoopback {
    public static void main(String[] args) throws Exception {
        String host = System.getProperty("dynamodb.host", "127.0.0.1");
        DynamoDBProxyServer proxy = ServerRunner.createServerFromCommandLineArgs(args);
        Field field = DynamoDBProxyServer.class.getDeclaredField("server");
        field.setAccessible(true);
        Server server = (Server) field.get(proxy);
        int bound = 0;
        for (Connector connector : server.getConnectors()) {
            if (connector instanceof ServerConnector) {
                ((ServerConnector) connector).setHost(host);
                bound++;
            }
        }
        if (bound == 0) {
            throw new IllegalStateException("DynamoDB Local has no connector whose address can be set");
        }
        proxy.start();
        System.out.println("DynamoDB Local listening on " + host);
        proxy.join();
    }
}
