/* The lab directory's map: Leaflet (served by the hub), markers coloured by online state. */
(function () {
  "use strict";
  var el = document.getElementById("map");
  var data = document.getElementById("map-data");
  if (!el || !data || !window.L) { return; }
  var labs = JSON.parse(data.textContent);
  var map = L.map(el, { scrollWheelZoom: false });
  L.tileLayer(el.dataset.tiles, { maxZoom: 18, attribution: "© OpenStreetMap contributors" }).addTo(map);
  var points = [];
  labs.forEach(function (lab) {
    var colour = lab.online ? "#1a7f37" : "#6e7781";
    var marker = L.circleMarker([lab.latitude, lab.longitude], {
      radius: 8, color: "#ffffff", weight: 2, fillColor: colour, fillOpacity: 0.95
    }).addTo(map);
    var link = document.createElement("a");
    link.href = "/fablabs/" + lab.id;
    link.textContent = lab.name;
    var box = document.createElement("div");
    box.appendChild(link);
    box.appendChild(document.createElement("br"));
    box.appendChild(document.createTextNode((lab.online ? "online" : "offline") + " · " + (lab.machine_summary ? lab.machine_summary.count : lab.machines.length) + " machine(s)"));
    marker.bindPopup(box);
    points.push([lab.latitude, lab.longitude]);
  });
  if (el.dataset.centre) {
    var c = el.dataset.centre.split(",").map(Number);
    L.circleMarker(c, { radius: 5, color: "#0b5cad", fillOpacity: 1 }).addTo(map).bindPopup("You are looking from here");
    points.push(c);
  }
  if (points.length > 1) { map.fitBounds(points, { padding: [30, 30], maxZoom: 12 }); }
  else if (points.length === 1) { map.setView(points[0], 11); }
  else { map.setView([20, 0], 2); }
})();
