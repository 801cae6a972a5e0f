# Built against include/ alone: see libtether-plugins.la in core/local.mk.
libtether_plugins_la_SOURCES += \
	transports/builtin.h \
	transports/alpn.c \
	transports/http_proxy.c \
	transports/mqtt_options.h \
	transports/mqtt_options.c \
	transports/mqtt_paho.c \
	transports/mqtt_tls_diag.c \
	transports/ws_lws.h \
	transports/ws_lws.c \
	transports/ws_close.c \
	transports/ws_options.c \
	transports/ws_reasons.c
libtether_plugins_la_LIBADD += $(PAHO_LIBS) $(LWS_LIBS) $(OPENSSL_LIBS)
