libtether_internal_la_SOURCES += \
	transports/builtin.h \
	transports/mqtt-int.h \
	transports/mqtt_options.c \
	transports/mqtt_paho.c \
	transports/ws-int.h \
	transports/ws_lws.c \
	transports/ws_options.c \
	transports/ws_reasons.c
libtether_internal_la_LIBADD += $(PAHO_LIBS) $(LWS_LIBS)
