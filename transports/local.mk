libtether_internal_la_SOURCES += \
	transports/transports-int.h \
	transports/mqtt_paho.c \
	transports/ws_lws.c
libtether_internal_la_LIBADD += $(PAHO_LIBS) $(LWS_LIBS)
